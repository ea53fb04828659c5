"""Optimizers: fused (in-backward) for the embedding tables, a keyed optimizer for the rest."""

from typing import Dict, List, Type

import torch
from torch import nn
from torchrec.distributed import DistributedModelParallel
from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward
from torchrec.optim.clipping import GradientClipping, GradientClippingOptimizer
from torchrec.optim.keyed import CombinedOptimizer, KeyedOptimizer, KeyedOptimizerWrapper
from torchrec.optim.rowwise_adagrad import RowWiseAdagrad

EMBEDDING_OPTIMIZERS: Dict[str, Type[torch.optim.Optimizer]] = {
    "rowwise_adagrad": RowWiseAdagrad,
    "adagrad": torch.optim.Adagrad,
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
}
# Parameters under this path are embedding tables (EmbeddingBagCollection's layout).
_TABLE_PREFIX = "embedding_bag_collection.embedding_bags."

DENSE_OPTIMIZERS: Dict[str, Type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adagrad": torch.optim.Adagrad,
    "sgd": torch.optim.SGD,
}


def apply_embedding_optimizer(
    sparse_module: nn.Module,
    name: str,
    learning_rate: float,
    device: torch.device,
    replicated: bool = False,
) -> None:
    """
    Marks the embedding tables for FBGEMM's fused optimizer, applied inside the backward
    pass of the sharded lookup (no gradient for the tables is ever materialised).
    ``replicated``: every table will be sharded data_parallel, where DMP ignores the
    in-backward optimizer and `build_optimizer` steps the tables with a regular one, so
    any optimizer works on any device (Adam on CPU included).
    """
    if name not in EMBEDDING_OPTIMIZERS:
        raise ValueError(
            f"embedding optimizer must be one of {sorted(EMBEDDING_OPTIMIZERS)}, got {name!r}"
        )
    if name == "adam" and device.type == "cpu" and not replicated:
        raise ValueError(
            "FBGEMM has no fused Adam on the CPU ('Optimizer adam is not supported in CPU "
            "mode'); use rowwise_adagrad, adagrad or sgd for the embedding tables, or "
            "--sharding data_parallel (replicated tables with a regular Adam)"
        )
    # No weight_decay here: FBGEMM's fused CPU kernels ignore it (see
    # RegularizedDLRMTrain for the embedding penalty that works everywhere).
    apply_optimizer_in_backward(
        EMBEDDING_OPTIMIZERS[name], sparse_module.parameters(), {"lr": learning_rate}
    )


def build_optimizer(
    model: DistributedModelParallel,
    dense_optimizer: str,
    learning_rate: float,
    embedding_optimizer: str,
    embedding_learning_rate: float,
    gradient_clip_norm: float = 0.0,
) -> CombinedOptimizer:
    """
    One optimizer over everything the train pipeline steps:

    * the fused optimizer of the sharded tables (already attached by DMP);
    * ``dense_optimizer`` over the dense parameters, with gradient-norm clipping;
    * for tables sharded data_parallel (replicated, where the in-backward optimizer is
      not applied), the embedding optimizer as a regular optimizer.
    """
    if dense_optimizer not in DENSE_OPTIMIZERS:
        raise ValueError(
            f"dense optimizer must be one of {sorted(DENSE_OPTIMIZERS)}, got {dense_optimizer!r}"
        )
    fused = model.fused_optimizer
    dense: Dict[str, torch.Tensor] = {}
    replicated_tables: Dict[str, torch.Tensor] = {}
    for name, param in model.named_parameters():
        if name in fused.params or not param.requires_grad:
            continue
        if hasattr(param, "_in_backward_optimizers") or param.numel() == 0:
            continue  # a table (or the placeholder of one) the fused optimizer owns
        if _TABLE_PREFIX in name:
            replicated_tables[name] = param
        else:
            dense[name] = param
    optimizers: List[KeyedOptimizer] = [fused]
    if dense:
        dense_cls = DENSE_OPTIMIZERS[dense_optimizer]
        dense_opt: KeyedOptimizer = KeyedOptimizerWrapper(
            dense, lambda params: dense_cls(params, lr=learning_rate)
        )
        if gradient_clip_norm > 0:
            dense_opt = GradientClippingOptimizer(
                dense_opt, clipping=GradientClipping.NORM, max_gradient=gradient_clip_norm
            )
        optimizers.append(dense_opt)
    if replicated_tables:
        table_cls = EMBEDDING_OPTIMIZERS[embedding_optimizer]
        optimizers.append(
            KeyedOptimizerWrapper(
                replicated_tables,
                lambda params: table_cls(params, lr=embedding_learning_rate),
            )
        )
    return CombinedOptimizer(optimizers)
