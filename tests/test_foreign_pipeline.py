"""DLRM_DLF inside a training script this project does not own.

The pipeline is set up exactly as TorchRec's DLRM example (facebookresearch/dlrm,
torchrec_dlrm/dlrm_main.py) does it, with none of this project's trainer: planner with
HeuristicalStorageReservation(0.05), DistributedModelParallel with its defaults (DDP
without buffer broadcast), fused row-wise Adagrad tables, a plain SGD dense optimizer
through KeyedOptimizerWrapper, the example's linear warmup, TrainPipelineSparseDist, and
rank-specific data on 2 gloo ranks. TorchRec's DLRM runs alongside as the reference.
"""

import itertools
import unittest
from typing import Dict, List, NamedTuple

import numpy as np
import torch
import torch.distributed as dist
from torchrec import EmbeddingBagCollection, EmbeddingBagConfig
from torchrec.datasets.utils import Batch
from torchrec.distributed import DistributedModelParallel
from torchrec.distributed.planner import EmbeddingShardingPlanner, Topology
from torchrec.distributed.planner.storage_reservations import (
    HeuristicalStorageReservation,
)
from torchrec.distributed.sharding_plan import get_default_sharders
from torchrec.distributed.train_pipeline import TrainPipelineSparseDist
from torchrec.models.dlrm import DLRM, DLRMTrain
from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward
from torchrec.optim.keyed import CombinedOptimizer, KeyedOptimizerWrapper
from torchrec.optim.optimizers import in_backward_optimizer_filter
from torchrec.optim.rowwise_adagrad import RowWiseAdagrad

from tests.multiprocess import run_multiprocess
from torchrec_dlf import DLRM_DLF
from torchrec_dlf.data.batching import make_batch

NUM_DENSE, NUM_SPARSE = 13, 26
KEYS = [f"cat_{i}" for i in range(NUM_SPARSE)]


class Config(NamedTuple):
    rows: int
    dim: int
    dense_arch: List[int]
    over_arch: List[int]
    small_dlf: bool  # a 2-layer DLF with narrow blocks; else DLRM_DLF's defaults


# The example's test configuration: 8 rows per table, embedding dim 8, dense arch [8, 8],
# over arch [8, 1].
EXAMPLE_TEST = Config(8, 8, [8, 8], [8, 1], small_dlf=True)
# A Criteo-like size at which the released layer diverged under plain SGD at lr 15.
CRITEO_LIKE = Config(1000, 16, [64, 16], [64, 32, 1], small_dlf=False)


def _model(kind: str, block_norm: str, config: Config) -> DLRMTrain:
    ebc = EmbeddingBagCollection(
        tables=[
            EmbeddingBagConfig(
                name=f"t_{k}",
                embedding_dim=config.dim,
                num_embeddings=config.rows,
                feature_names=[k],
            )
            for k in KEYS
        ],
        device=torch.device("meta"),
    )
    if kind == "dot":
        return DLRMTrain(DLRM(ebc, NUM_DENSE, config.dense_arch, config.over_arch))
    size = (
        {
            "dlf_num_layers": 2,
            "dlf_tokens_per_block": 4,
            "dlf_rank": 4,
            "dlf_block_mlp_width": 32,
        }
        if config.small_dlf
        else {}
    )
    return DLRMTrain(
        DLRM_DLF(
            ebc,
            NUM_DENSE,
            config.dense_arch,
            config.over_arch,
            dlf_block_norm=block_norm,
            **size,
        )
    )


def _random_batch(rng: np.random.Generator, size: int, rows: int) -> Batch:
    """The example's random-data configuration: uniform ids, uniform dense, random labels."""
    return make_batch(
        rng.integers(0, 2, size=size).astype(np.float32),
        rng.random((size, NUM_DENSE), dtype=np.float32),
        rng.integers(0, rows, size=(size, NUM_SPARSE)),
        KEYS,
    )


def _dlrm_main_style(
    rank: int,
    world: int,
    kind: str,
    block_norm: str,
    lr: float,
    warmup: int,
    sizes: List[int],
    config: Config = EXAMPLE_TEST,
) -> Dict[str, object]:
    torch.manual_seed(0)
    device = torch.device("cpu")
    train_model = _model(kind, block_norm, config)
    apply_optimizer_in_backward(
        RowWiseAdagrad, train_model.model.sparse_arch.parameters(), {"lr": lr}
    )
    planner = EmbeddingShardingPlanner(
        topology=Topology(
            local_world_size=world, world_size=world, compute_device="cpu"
        ),
        batch_size=max(sizes),
        storage_reservation=HeuristicalStorageReservation(percentage=0.05),
    )
    plan = planner.collective_plan(
        train_model, get_default_sharders(), dist.GroupMember.WORLD
    )
    model = DistributedModelParallel(module=train_model, device=device, plan=plan)
    dense = KeyedOptimizerWrapper(
        dict(in_backward_optimizer_filter(model.named_parameters())),
        lambda params: torch.optim.SGD(params, lr=lr),
    )
    optimizer = CombinedOptimizer([model.fused_optimizer, dense])
    # The example's LRPolicyScheduler during warmup: lr * step / warmup.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0
    )
    pipeline = TrainPipelineSparseDist(model, optimizer, device)
    rng = np.random.default_rng([rank, 17])  # every rank its own data
    batches = iter([_random_batch(rng, n, config.rows) for n in sizes])
    losses: List[float] = []
    model.train()
    while True:
        try:
            loss, _, _ = pipeline.progress(batches)
        except StopIteration:
            break
        losses.append(loss.item())
        scheduler.step()
    pipeline.detach()
    # Both ranks score the same fixed batch.
    fixed = _random_batch(np.random.default_rng(99), 16, config.rows)
    model.eval()
    with torch.no_grad():
        logits = model(fixed)[1][1].numpy().copy()
    # Running statistics held by the interaction arch (BatchNorm only), flattened.
    buffers = [
        b.detach().flatten()
        for n, b in model.named_buffers()
        if "inter_arch" in n and "running" in n
    ]
    running = (
        torch.cat(buffers).numpy().copy() if buffers else np.zeros(0, dtype=np.float32)
    )
    return {"losses": losses, "logits": logits, "running_stats": running}


class DLRM_DLFInDLRMMainPipelineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        # 12 steps of 8 samples per rank, then a last partial batch of one sample per rank.
        sizes = [8] * 12 + [1]
        cls.dlf = run_multiprocess(_dlrm_main_style, 2, "dlf", "layer", 0.05, 0, sizes)

    def test_ranks_score_a_fixed_batch_identically(self) -> None:
        a, b = self.dlf
        np.testing.assert_array_equal(a["logits"], b["logits"])

    def test_a_batch_of_one_per_rank_trains(self) -> None:
        for rank in self.dlf:
            self.assertEqual(len(rank["losses"]), 13)
            self.assertTrue(np.isfinite(rank["losses"]).all())

    def test_batchnorm_switch_drifts_apart_without_buffer_broadcast(self) -> None:
        # The released code's BatchNorm: the same pipeline leaves the ranks with different
        # running statistics, so they score the same batch differently (documented).
        a, b = run_multiprocess(_dlrm_main_style, 2, "dlf", "batch", 0.05, 0, [8] * 12)
        self.assertGreater(a["running_stats"].size, 0)
        self.assertGreater(np.abs(a["running_stats"] - b["running_stats"]).max(), 1e-2)
        self.assertFalse(np.array_equal(a["logits"], b["logits"]))

    def test_default_arch_holds_no_running_statistics(self) -> None:
        for rank in self.dlf:
            self.assertEqual(rank["running_stats"].size, 0)


class LargeSGDLearningRateTest(unittest.TestCase):
    """The example's plain SGD at lr 15 (20 steps of 32 per rank)."""

    def _assert_finite(self, kind: str, warmup: int, config: Config) -> None:
        for rank in run_multiprocess(
            _dlrm_main_style, 2, kind, "layer", 15.0, warmup, [32] * 20, config
        ):
            self.assertEqual(len(rank["losses"]), 20)
            self.assertTrue(np.isfinite(rank["losses"]).all(), rank["losses"])
            self.assertTrue(np.isfinite(rank["logits"]).all())

    def test_lr_15_with_warmup_stays_finite_like_dlrm(self) -> None:
        for config, kind in itertools.product(
            (EXAMPLE_TEST, CRITEO_LIKE), ("dot", "dlf")
        ):
            with self.subTest(rows=config.rows, kind=kind):
                self._assert_finite(kind, 10, config)

    def test_lr_15_without_warmup_stays_finite(self) -> None:
        # DLRM itself diverges here at the Criteo-like size (its head sees raw dot
        # products); DLF's LayerNorm'd, unit-norm output keeps it finite.
        for config in (EXAMPLE_TEST, CRITEO_LIKE):
            with self.subTest(rows=config.rows):
                self._assert_finite("dlf", 0, config)


if __name__ == "__main__":
    unittest.main()
