"""Dense-part throughput of DLF and TorchRec's interaction archs on identical inputs.

Every model gets the same batch: raw dense features (B x N) for its dense arch and the
same pooled embeddings (B x F x D, a leaf tensor that receives gradients as the sharded
lookup's output would). A training step is forward, BCE loss, backward and an Adam
step of the dense parameters (fused, as the trainer's); an inference step is a
forward in eval mode. FLOPs are counted by torch's FlopCounterMode (matrix products,
attention), so achieved FLOP/s can be set against the matrix-product peak measured in
the same run.
"""

import contextlib
import importlib.util
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from torchrec_dlf.benchmarks.reference_dlf import ReferenceDLF
from torchrec_dlf.benchmarks.timing import time_steps
from torchrec_dlf.interaction_arch import DLFInteractionArch

HAS_TORCHREC = importlib.util.find_spec("torchrec") is not None


@dataclass(frozen=True)
class ModelShape:
    """Sizes shared by every model of one benchmark configuration."""

    batch_size: int
    num_sparse: int
    num_dense: int
    embedding_dim: int
    dense_arch: Tuple[int, ...]
    over_arch: Tuple[int, ...] = (512, 256, 1)
    dlf_layers: int = 3
    dlf_tokens: int = 16
    dlf_rank: int = 24
    dlf_width: int = 512
    dcn_layers: int = 3
    dcn_rank: int = 64


def _plain_mlp(sizes: List[int], in_features: int, last_linear: bool) -> nn.Sequential:
    layers: List[nn.Module] = []
    for i, out in enumerate(sizes):
        layers.append(nn.Linear(in_features, out))
        if not (last_linear and i == len(sizes) - 1):
            layers.append(nn.ReLU())
        in_features = out
    return nn.Sequential(*layers)


class DenseModel(nn.Module):
    """dense arch -> interaction arch -> over arch, fed with ready-made embeddings."""

    def __init__(
        self, dense_arch: nn.Module, inter_arch: nn.Module, over_arch: nn.Module
    ) -> None:
        super().__init__()
        self.dense_arch = dense_arch
        self.inter_arch = inter_arch
        self.over_arch = over_arch

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        embedded_dense = self.dense_arch(dense)
        return self.over_arch(
            self.inter_arch(dense_features=embedded_dense, sparse_features=sparse)
        )


class ReferenceModel(nn.Module):
    """The reference structure with the same dense token as the others."""

    def __init__(self, dense_arch: nn.Module, shape: ModelShape) -> None:
        super().__init__()
        self.dense_arch = dense_arch
        self.dlf = ReferenceDLF(
            shape.num_sparse + 1,
            shape.embedding_dim,
            shape.dlf_tokens,
            shape.dlf_rank,
            shape.dlf_width,
            shape.over_arch[0],
            shape.dlf_layers,
        )

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        tokens = torch.cat((self.dense_arch(dense).unsqueeze(1), sparse), dim=1)
        return self.dlf(tokens)


def _dense_arch(shape: ModelShape) -> nn.Module:
    return _plain_mlp(list(shape.dense_arch), shape.num_dense, last_linear=False)


def _over_arch(shape: ModelShape, in_features: int) -> nn.Module:
    return _plain_mlp(list(shape.over_arch), in_features, last_linear=True)


def _dlf_arch(shape: ModelShape, **switches: Any) -> DLFInteractionArch:
    return DLFInteractionArch(
        num_sparse_features=shape.num_sparse,
        embedding_dim=shape.embedding_dim,
        num_dense_tokens=1,
        num_layers=shape.dlf_layers,
        tokens_per_block=shape.dlf_tokens,
        rank=shape.dlf_rank,
        block_mlp_width=shape.dlf_width,
        **switches,
    )


def _torchrec_models(shape: ModelShape) -> Dict[str, nn.Module]:
    """TorchRec's dot, DCN and projection interaction archs (TorchRec installed)."""
    from torchrec.models.dlrm import (
        InteractionArch,
        InteractionDCNArch,
        InteractionProjectionArch,
    )
    from torchrec.modules.crossnet import LowRankCrossNet

    d, f = shape.embedding_dim, shape.num_sparse
    models: Dict[str, nn.Module] = {}
    models["dot"] = DenseModel(
        _dense_arch(shape),
        InteractionArch(f),
        _over_arch(shape, d + f + f * (f - 1) // 2),
    )
    models["dcn"] = DenseModel(
        _dense_arch(shape),
        InteractionDCNArch(
            f, LowRankCrossNet((f + 1) * d, shape.dcn_layers, shape.dcn_rank)
        ),
        _over_arch(shape, (f + 1) * d),
    )
    branch = [(f + 1) * d, 8 * d]
    models["projection"] = DenseModel(
        _dense_arch(shape),
        InteractionProjectionArch(
            f,
            _plain_mlp(branch[1:], branch[0], last_linear=False),
            _plain_mlp(branch[1:], branch[0], last_linear=False),
        ),
        _over_arch(shape, d + 8 * 8),
    )
    return models


def build_models(shape: ModelShape) -> Dict[str, nn.Module]:
    """dot, dcn, projection (TorchRec's archs, when TorchRec is installed), dlf and the
    reference DLF structure, all with the same dense arch sizes."""
    dlf = _dlf_arch(shape)
    # The released code's switches (concat fusion, plain residual, linear gamma, BatchNorm in
    # the block MLPs, plain sum, unscaled output): the reference structure, in our code.
    dlf_released = _dlf_arch(
        shape,
        fusion="concat",
        gate=False,
        implicit_activation=False,
        block_norm="batch",
        branch_scale=False,
        scale_output=False,
    )
    models: Dict[str, nn.Module] = _torchrec_models(shape) if HAS_TORCHREC else {}
    models["dlf"] = DenseModel(
        _dense_arch(shape), dlf, _over_arch(shape, dlf.output_dim)
    )
    # NAF as one attention call per stream (the layer before the fused operation).
    streamwise = _dlf_arch(shape, fused_attention=False)
    models["dlf_streamwise"] = DenseModel(
        _dense_arch(shape), streamwise, _over_arch(shape, streamwise.output_dim)
    )
    models["dlf_released_switches"] = DenseModel(
        _dense_arch(shape), dlf_released, _over_arch(shape, dlf_released.output_dim)
    )
    models["dlf_reference"] = ReferenceModel(_dense_arch(shape), shape)
    return models


def _autocast(
    device: torch.device, precision: str
) -> contextlib.AbstractContextManager:
    return torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=precision == "bf16"
    )


def _count_flops(step: Callable[..., None], model: nn.Module) -> int:
    """FLOPs of one ``step`` run on the eager ``model`` (the counter does not see
    inside compiled code)."""
    counter = FlopCounterMode(display=False)
    with counter:
        step(model)
    return counter.get_total_flops()


def measure_model(
    model: nn.Module,
    shape: ModelShape,
    device: torch.device,
    precision: str,
    warmup: int,
    steps: int,
    compile_model: bool = False,
) -> Dict[str, Any]:
    """Training and inference step times, FLOPs per sample and achieved FLOP/s."""
    torch.manual_seed(0)
    model = model.to(device)
    runner: Callable[..., torch.Tensor] = (
        torch.compile(model) if compile_model else model
    )
    b = shape.batch_size
    dense = torch.rand(b, shape.num_dense, device=device)
    sparse = (
        torch.randn(b, shape.num_sparse, shape.embedding_dim, device=device) * 0.1
    ).requires_grad_()
    labels = torch.randint(0, 2, (b,), device=device).float()
    # The trainer's dense optimizer: one fused kernel.
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)

    def train_step(runner: Callable[..., torch.Tensor] = runner) -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        sparse.grad = None
        with _autocast(device, precision):
            logits = runner(dense, sparse)
        loss = F.binary_cross_entropy_with_logits(logits.float().squeeze(-1), labels)
        loss.backward()
        optimizer.step()

    def infer_step(runner: Callable[..., torch.Tensor] = runner) -> None:
        model.eval()
        with torch.no_grad(), _autocast(device, precision):
            runner(dense, sparse)

    train_step()  # materialise optimizer state (and compile) before counting
    train_flops = _count_flops(train_step, model)
    infer_flops = _count_flops(infer_step, model)
    train = time_steps(train_step, device, warmup, steps)
    infer = time_steps(infer_step, device, warmup, steps)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "train": {**train, "samples_per_s": b / train["p50_s"]},
        "infer": {**infer, "samples_per_s": b / infer["p50_s"]},
        "train_flops_per_sample": train_flops / b,
        "infer_flops_per_sample": infer_flops / b,
        "train_flop_per_s": train_flops / train["p50_s"],
        "infer_flop_per_s": infer_flops / infer["p50_s"],
    }


def run_models(
    shape: ModelShape,
    device: torch.device,
    precisions: List[str],
    warmup: int,
    steps: int,
    compile_model: bool = False,
    only: Optional[List[str]] = None,
    compiled_rows: Optional[List[str]] = None,
) -> Dict[str, Dict[str, Any]]:
    """
    Every model (or those in ``only``) at every precision; ``compiled_rows`` names
    models measured a second time under torch.compile, as ``<name>+compiled`` rows
    (FLOPs counted on the eager model: the counter does not see inside compiled code).
    """
    results: Dict[str, Dict[str, Any]] = {}
    for name, model in build_models(shape).items():
        if only and name not in only and name not in (compiled_rows or []):
            continue
        if not only or name in only:
            results[name] = {
                precision: measure_model(
                    model, shape, device, precision, warmup, steps, compile_model
                )
                for precision in precisions
            }
        if compiled_rows and name in compiled_rows:
            results[f"{name}+compiled"] = {
                precision: measure_model(
                    model, shape, device, precision, warmup, steps, True
                )
                for precision in precisions
            }
    return results
