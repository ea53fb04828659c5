"""DLRM_DLF under DistributedModelParallel on real 2-process gloo groups."""

import os
import tempfile
import unittest
from typing import Dict, List

import numpy as np
import torch
from torchrec.distributed.train_pipeline import TrainPipelineSparseDist

from tests.multiprocess import run_multiprocess
from tests.training.helpers import eval_logits, run_pipeline
from torchrec_dlf.data.batching import make_batch
from torchrec_dlf.data.metadata import DatasetMetadata, SplitInfo
from torchrec_dlf.data.synthetic import SyntheticConfig, SyntheticTeacher
from torchrec_dlf.training.checkpoint import CheckpointManager
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.model_factory import ModelConfig, build_train_model
from torchrec_dlf.training.model_state import (
    load_full_state_dict,
    restore_state,
    snapshot_state,
)
from torchrec_dlf.training.optimizers import apply_embedding_optimizer, build_optimizer
from torchrec_dlf.training.parallel import shard_model
from torchrec_dlf.training.sharded_model import EBC_PATH
from torchrec_dlf.training.sharding import SHARDING_CHOICES, build_sharding_plan

CONFIG = SyntheticConfig(num_numeric=4, num_categorical=6, max_vocab=200, seed=3)
MODEL = ModelConfig(
    interaction_type="dlf",
    embedding_dim=8,
    over_arch_layer_sizes=[32, 1],
    dense_arch_layer_sizes=[16, 8],
    dlf_num_layers=2,
    dlf_tokens_per_block=4,
    dlf_rank=4,
    dlf_block_mlp_width=32,
)
GLOBAL_BATCH = 64


def _metadata(teacher: SyntheticTeacher) -> DatasetMetadata:
    return DatasetMetadata(
        name="synthetic",
        numeric=CONFIG.numeric_names,
        categorical=CONFIG.categorical_names,
        vocab_sizes=dict(zip(CONFIG.categorical_names, teacher.vocab_sizes)),
        splits={"train": SplitInfo([], 0, 0)},
    )


def _local_batch(rows, rank: int, world: int):
    labels, numeric, cat = rows
    per = len(labels) // world
    sl = slice(rank * per, (rank + 1) * per)
    return make_batch(labels[sl], numeric[sl], cat[sl], CONFIG.categorical_names)


def _all_shardings(
    rank: int, world: int, directory: str
) -> Dict[str, Dict[str, object]]:
    return {
        s: _sharded_vs_unsharded(rank, world, s, os.path.join(directory, s))
        for s in SHARDING_CHOICES
    }


def _sharded_vs_unsharded(
    rank: int, world: int, sharding: str, checkpoint_dir: str
) -> Dict[str, object]:
    teacher = SyntheticTeacher(CONFIG)
    meta = _metadata(teacher)
    device = torch.device("cpu")
    ctx = DistributedContext(rank, world, rank, world, device, "gloo")

    torch.manual_seed(0)
    reference = build_train_model(MODEL, meta, device, ebc_device=device)
    full_state = {k: v.detach().clone() for k, v in reference.state_dict().items()}

    torch.manual_seed(1)  # different init: the weights must come from full_state
    model = build_train_model(MODEL, meta, device)
    apply_embedding_optimizer(model.model.sparse_arch, "rowwise_adagrad", 0.05, device)
    plan = build_sharding_plan(model, EBC_PATH, ctx, sharding, GLOBAL_BATCH // world)
    sharded = shard_model(model, plan, device)
    load_full_state_dict(sharded, full_state)
    optimizer = build_optimizer(sharded, "adam", 3e-3, "rowwise_adagrad", 0.05, 10.0)

    held_out = teacher.sample(np.random.default_rng([7, 0]), GLOBAL_BATCH)
    local = _local_batch(held_out, rank, world)

    # 1. Forward equals the unsharded model on the same weights (eval mode).
    reference.eval()
    sharded.eval()
    with torch.no_grad():
        expected = reference(local)[1][1]
        got = sharded(local)[1][1]
    forward_max_diff = (expected - got).abs().max().item()

    # 2. Training steps through TrainPipelineSparseDist lower the loss.
    def held_out_loss() -> float:
        sharded.eval()
        with torch.no_grad():
            return sharded(local)[0].item()

    before = held_out_loss()
    rng = np.random.default_rng([11, 0])  # the same global batches on every rank
    batches: List = [
        _local_batch(teacher.sample(rng, GLOBAL_BATCH), rank, world) for _ in range(60)
    ]
    pipeline = TrainPipelineSparseDist(sharded, optimizer, device)
    steps = run_pipeline(pipeline, sharded, batches)
    after = held_out_loss()

    # 3. A snapshot restores the exact weights after further training.
    snap = snapshot_state(sharded)
    at_snapshot = eval_logits(sharded, local)
    run_pipeline(pipeline, sharded, batches[:10])
    moved = (eval_logits(sharded, local) - at_snapshot).abs().max().item()
    restore_state(sharded, snap)
    restored = (eval_logits(sharded, local) - at_snapshot).abs().max().item()

    # 4. A DCP checkpoint round-trips the sharded tables and the optimizer state.
    ckpt = CheckpointManager(checkpoint_dir)
    ckpt.save(1, sharded, optimizer, {"note": sharding})
    run_pipeline(pipeline, sharded, batches[:5])
    after_first = eval_logits(sharded, local)
    ckpt.load(ckpt.latest(), sharded, optimizer)
    checkpoint_restored = (eval_logits(sharded, local) - at_snapshot).abs().max().item()
    run_pipeline(
        pipeline, sharded, batches[:5]
    )  # same steps from the restored optimizer state
    after_second = eval_logits(sharded, local)

    module_plan = plan.plan[EBC_PATH]
    ranks_used = sorted({r for p in module_plan.values() for r in p.ranks})
    return {
        "sharding_types": sorted({p.sharding_type for p in module_plan.values()}),
        "forward_max_diff": forward_max_diff,
        "loss_before": before,
        "loss_after": after,
        "steps": steps,
        "ranks_used": ranks_used,
        "moved": moved,
        "restored": restored,
        "checkpoint_restored": checkpoint_restored,
        "checkpoint_continued": (after_first - after_second).abs().max().item(),
    }


class DistributedDLRM_DLFTest(unittest.TestCase):
    """Every sharding type (and the planner) on 2 gloo ranks, in one process group."""

    @classmethod
    def setUpClass(cls) -> None:
        with tempfile.TemporaryDirectory() as d:
            per_rank = run_multiprocess(_all_shardings, 2, d, timeout=900)
        cls.results = {s: [per_rank[r][s] for r in range(2)] for s in SHARDING_CHOICES}

    def test_plans_use_the_requested_type_on_both_ranks(self) -> None:
        for sharding, results in self.results.items():
            r = results[0]
            self.assertEqual(r["ranks_used"], [0, 1], sharding)
            if sharding != "auto":
                self.assertEqual(r["sharding_types"], [sharding])
            else:
                self.assertNotIn("data_parallel", r["sharding_types"])

    def test_forward_equals_unsharded_model(self) -> None:
        for sharding, results in self.results.items():
            for r in results:
                self.assertLess(r["forward_max_diff"], 1e-5, sharding)

    def test_pipeline_steps_lower_the_loss(self) -> None:
        for sharding, results in self.results.items():
            for r in results:
                self.assertEqual(r["steps"], 60)
                self.assertLess(r["loss_after"], r["loss_before"] - 0.02, (sharding, r))

    def test_checkpoint_round_trip(self) -> None:
        for sharding, results in self.results.items():
            for r in results:
                self.assertEqual(r["checkpoint_restored"], 0.0, sharding)
                self.assertEqual(r["checkpoint_continued"], 0.0, sharding)

    def test_snapshot_restores_sharded_weights(self) -> None:
        for sharding, results in self.results.items():
            for r in results:
                self.assertGreater(r["moved"], 1e-4, sharding)
                self.assertEqual(r["restored"], 0.0, sharding)
