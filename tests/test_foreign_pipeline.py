"""DLRM_DLF inside a training script this project does not own.

The pipeline is set up exactly as TorchRec's DLRM example (facebookresearch/dlrm,
torchrec_dlrm/dlrm_main.py) does it, with none of this project's trainer: planner with
HeuristicalStorageReservation(0.05), DistributedModelParallel with its defaults (DDP
without buffer broadcast), fused row-wise Adagrad tables, a plain SGD dense optimizer
through KeyedOptimizerWrapper, the example's linear warmup, TrainPipelineSparseDist, and
rank-specific data on 2 gloo ranks. TorchRec's DLRM runs alongside as the reference.
"""

import unittest
from typing import Dict, List

import numpy as np
import torch
import torch.distributed as dist
from torchrec import EmbeddingBagCollection, EmbeddingBagConfig
from torchrec.datasets.utils import Batch
from torchrec.distributed import DistributedModelParallel
from torchrec.distributed.planner import EmbeddingShardingPlanner, Topology
from torchrec.distributed.planner.storage_reservations import HeuristicalStorageReservation
from torchrec.distributed.sharding_plan import get_default_sharders
from torchrec.distributed.train_pipeline import TrainPipelineSparseDist
from torchrec.models.dlrm import DLRM, DLRMTrain
from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward
from torchrec.optim.keyed import CombinedOptimizer, KeyedOptimizerWrapper
from torchrec.optim.optimizers import in_backward_optimizer_filter
from torchrec.optim.rowwise_adagrad import RowWiseAdagrad

from torchrec_dlf import DLRM_DLF
from torchrec_dlf.data.batching import make_batch
from tests.multiprocess import run_multiprocess

# The example's test configuration: 13 dense and 26 sparse features, 8 rows per table,
# embedding dim 8, dense arch [8, 8], over arch [8, 1], batch 32.
NUM_DENSE, NUM_SPARSE, ROWS, DIM = 13, 26, 8, 8
KEYS = [f"cat_{i}" for i in range(NUM_SPARSE)]


def _model(kind: str, block_norm: str) -> DLRMTrain:
    ebc = EmbeddingBagCollection(
        tables=[
            EmbeddingBagConfig(name=f"t_{k}", embedding_dim=DIM, num_embeddings=ROWS, feature_names=[k])
            for k in KEYS
        ],
        device=torch.device("meta"),
    )
    if kind == "dot":
        return DLRMTrain(DLRM(ebc, NUM_DENSE, [8, DIM], [8, 1]))
    return DLRMTrain(
        DLRM_DLF(
            ebc, NUM_DENSE, [8, DIM], [8, 1],
            dlf_num_layers=2, dlf_tokens_per_block=4, dlf_rank=4, dlf_block_mlp_width=32,
            dlf_block_norm=block_norm,
        )
    )


def _random_batch(rng: np.random.Generator, size: int) -> Batch:
    """The example's random-data configuration: uniform ids, uniform dense, random labels."""
    return make_batch(
        rng.integers(0, 2, size=size).astype(np.float32),
        rng.random((size, NUM_DENSE), dtype=np.float32),
        rng.integers(0, ROWS, size=(size, NUM_SPARSE)),
        KEYS,
    )


def _dlrm_main_style(
    rank: int, world: int, kind: str, block_norm: str, lr: float, warmup: int, sizes: List[int]
) -> Dict[str, object]:
    torch.manual_seed(0)
    device = torch.device("cpu")
    train_model = _model(kind, block_norm)
    apply_optimizer_in_backward(RowWiseAdagrad, train_model.model.sparse_arch.parameters(), {"lr": lr})
    planner = EmbeddingShardingPlanner(
        topology=Topology(local_world_size=world, world_size=world, compute_device="cpu"),
        batch_size=max(sizes),
        storage_reservation=HeuristicalStorageReservation(percentage=0.05),
    )
    plan = planner.collective_plan(train_model, get_default_sharders(), dist.GroupMember.WORLD)
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
    batches = iter([_random_batch(rng, n) for n in sizes])
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
    fixed = _random_batch(np.random.default_rng(99), 16)
    model.eval()
    with torch.no_grad():
        logits = model(fixed)[1][1].numpy().copy()
    return {"losses": losses, "logits": logits}


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
        self.assertGreater(np.abs(a["logits"] - b["logits"]).max(), 1e-4)


class LargeSGDLearningRateTest(unittest.TestCase):
    def test_lr_15_with_warmup_stays_finite_like_dlrm(self) -> None:
        sizes = [32] * 30
        for kind in ("dot", "dlf"):
            for rank in run_multiprocess(_dlrm_main_style, 2, kind, "layer", 15.0, 10, sizes):
                self.assertEqual(len(rank["losses"]), 30, kind)
                self.assertTrue(np.isfinite(rank["losses"]).all(), (kind, rank["losses"]))
                self.assertTrue(np.isfinite(rank["logits"]).all(), kind)


if __name__ == "__main__":
    unittest.main()
