"""CheckpointManager on real gloo process groups: round trip, atomicity, resharding."""

import os
import tempfile
import unittest
from typing import Dict, List

import numpy as np
import torch
from torchrec.distributed.train_pipeline import TrainPipelineSparseDist

from tests.multiprocess import run_multiprocess
from tests.training.helpers import eval_logits, run_pipeline
from tests.training.test_distributed import CONFIG, MODEL, _metadata
from torchrec_dlf.data.batching import make_batch
from torchrec_dlf.data.synthetic import SyntheticTeacher
from torchrec_dlf.training.checkpoint import (
    CheckpointManager,
    DamagedCheckpoint,
    is_checkpoint_directory,
    read_checkpoint_state,
)
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.model_factory import build_train_model
from torchrec_dlf.training.optimizers import apply_embedding_optimizer, build_optimizer
from torchrec_dlf.training.parallel import shard_model
from torchrec_dlf.training.sharded_model import EBC_PATH
from torchrec_dlf.training.sharding import build_sharding_plan

GLOBAL_BATCH = 48


def _build(rank: int, world: int, sharding: str):
    teacher = SyntheticTeacher(CONFIG)
    device = torch.device("cpu")
    ctx = DistributedContext(rank, world, rank, world, device, "gloo")
    torch.manual_seed(
        rank + 10
    )  # deliberately different: weights must come from the checkpoint
    model = build_train_model(MODEL, _metadata(teacher), device)
    apply_embedding_optimizer(model.model.sparse_arch, "rowwise_adagrad", 0.05, device)
    plan = build_sharding_plan(model, EBC_PATH, ctx, sharding, GLOBAL_BATCH // world)
    dmp = shard_model(model, plan, device)
    optimizer = build_optimizer(dmp, "adam", 3e-3, "rowwise_adagrad", 0.05, 10.0)
    return teacher, dmp, optimizer


def _batches(teacher, rank: int, world: int, seed: int, n: int) -> List:
    rng = np.random.default_rng([seed, 0])
    out = []
    for _ in range(n):
        labels, numeric, cat = teacher.sample(rng, GLOBAL_BATCH)
        per = GLOBAL_BATCH // world
        sl = slice(rank * per, (rank + 1) * per)
        out.append(
            make_batch(labels[sl], numeric[sl], cat[sl], CONFIG.categorical_names)
        )
    return out


def _train(model, optimizer, batches) -> None:
    run_pipeline(
        TrainPipelineSparseDist(model, optimizer, torch.device("cpu")), model, batches
    )


_logits = eval_logits


def _round_trip(rank: int, world: int, directory: str) -> Dict[str, object]:
    teacher, model, optimizer = _build(rank, world, "table_wise")
    ckpt = CheckpointManager(directory, keep_last=2)
    held = _batches(teacher, rank, world, 99, 1)[0]
    train = _batches(teacher, rank, world, 1, 12)
    _train(model, optimizer, train[:6])
    ckpt.save(6, model, optimizer, {"epoch": 0, "note": "first"})
    at_save = _logits(model, held)
    _train(model, optimizer, train[6:])
    after_more = _logits(model, held)
    ckpt.save(12, model, optimizer, {"epoch": 0})
    ckpt.save(18, model, optimizer, {"epoch": 1})
    steps_kept = ckpt.steps()
    loaded = ckpt.load(ckpt.step_path(12), model, optimizer)
    restored = _logits(model, held)
    # Continue training from the restored state; it must match training on from step 12.
    _train(model, optimizer, train[:3])
    continued = _logits(model, held)
    loaded_again = ckpt.load(ckpt.step_path(12), model, optimizer)
    _train(model, optimizer, train[:3])
    continued_again = _logits(model, held)
    return {
        "moved": (after_more - at_save).abs().max().item(),
        "restored_diff": (restored - after_more).abs().max().item(),
        "continue_diff": (continued - continued_again).abs().max().item(),
        "steps_kept": steps_kept,
        "loaded_step": loaded.step,
        "trainer_state": loaded.trainer_state,
        "loaded_again_step": loaded_again.step,
        "listing": sorted(os.listdir(directory)),
    }


def _save_for_reshard(rank: int, world: int, directory: str) -> List[float]:
    teacher, model, optimizer = _build(rank, world, "table_wise")
    _train(model, optimizer, _batches(teacher, rank, world, 1, 8))
    CheckpointManager(directory).save(8, model, optimizer, {"epoch": 0})
    return [_logits(model, b).tolist() for b in _batches(teacher, rank, world, 77, 1)]


def _load_resharded(rank: int, world: int, directory: str) -> List[float]:
    teacher, model, optimizer = _build(rank, world, "row_wise")
    ckpt = CheckpointManager(directory)
    loaded = ckpt.load(ckpt.latest(), model, optimizer)
    assert loaded.world_size == 2
    logits = [_logits(model, b).tolist() for b in _batches(teacher, rank, world, 77, 1)]
    _train(model, optimizer, _batches(teacher, rank, world, 2, 2))  # training goes on
    return logits


def _damage(rank: int, world: int, directory: str, how: str) -> Dict[str, object]:
    teacher, model, optimizer = _build(rank, world, "table_wise")
    ckpt = CheckpointManager(directory)
    _train(model, optimizer, _batches(teacher, rank, world, 1, 2))
    path = ckpt.save(2, model, optimizer, {"epoch": 0})
    torch.distributed.barrier()
    if rank == 0:
        shard = os.path.join(
            path, sorted(n for n in os.listdir(path) if n.endswith(".distcp"))[0]
        )
        size = os.path.getsize(shard)
        with open(shard, "r+b") as f:
            if how == "truncate":
                f.truncate(size // 2)
            else:  # same size, other bytes: only reading tells
                f.write(b"\0" * size)
    torch.distributed.barrier()
    try:
        ckpt.load(path, model, optimizer)
    except DamagedCheckpoint as e:
        return {"error": str(e)}
    return {"error": None}


class CheckpointManagerTest(unittest.TestCase):
    def test_damaged_checkpoints_raise_on_every_rank(self) -> None:
        for how, message in (
            ("truncate", r"__0_0.distcp: \d+ bytes, written with \d+ \(truncated\?\)$"),
            ("overwrite", r"step_000000002: cannot be read \(.+\)$"),
        ):
            with self.subTest(how), tempfile.TemporaryDirectory() as d:
                results = run_multiprocess(_damage, 2, d, how, timeout=600)
                for r in results:
                    self.assertRegex(r["error"], message)

    def test_state_file_records_sizes_and_damage_is_named(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            step = os.path.join(d, "step_000000001")
            os.makedirs(step)
            with open(os.path.join(step, "trainer_state.json"), "w") as f:
                f.write('{"step": 1, "files": {"a.distcp": 4}}')
            with self.assertRaisesRegex(DamagedCheckpoint, r"a.distcp: missing$"):
                read_checkpoint_state(step)
            with open(os.path.join(step, "a.distcp"), "wb") as f:
                f.write(b"1234")
            self.assertEqual(read_checkpoint_state(step)["step"], 1)
            with open(os.path.join(step, "trainer_state.json"), "w") as f:
                f.write('{"step": 1, "fi')
            with self.assertRaisesRegex(
                DamagedCheckpoint, r"trainer_state.json: unreadable"
            ):
                read_checkpoint_state(step)

    def test_is_checkpoint_directory(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            self.assertTrue(is_checkpoint_directory(d))
            for name in ("step_000000003", "best", ".step_000000004.tmp"):
                os.makedirs(os.path.join(d, name))
            self.assertTrue(is_checkpoint_directory(d))
            os.makedirs(os.path.join(d, "train"))
            self.assertFalse(is_checkpoint_directory(d))

    def test_round_trip_on_two_ranks(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            results = run_multiprocess(_round_trip, 2, d, timeout=600)
        for r in results:
            self.assertGreater(r["moved"], 1e-4)
            self.assertEqual(r["restored_diff"], 0.0)
            self.assertEqual(r["continue_diff"], 0.0)  # optimizer state restored too
            self.assertEqual(r["steps_kept"], [12, 18])  # keep_last=2
            self.assertEqual(r["loaded_step"], 12)
            self.assertEqual(r["trainer_state"]["world_size"], 2)
            self.assertEqual(r["listing"], ["step_000000012", "step_000000018"])

    def test_reshard_two_ranks_into_four(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            saved = run_multiprocess(_save_for_reshard, 2, d, timeout=600)
            loaded = run_multiprocess(_load_resharded, 4, d, timeout=600)
        full_saved = np.concatenate([np.array(r[0]) for r in saved])
        full_loaded = np.concatenate([np.array(r[0]) for r in loaded])
        np.testing.assert_allclose(full_loaded, full_saved, rtol=0, atol=1e-6)

    def test_incomplete_checkpoints_are_invisible(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, ".step_000000005.tmp"))
            os.makedirs(os.path.join(d, "step_000000007"))  # no trainer_state.json
            ckpt = CheckpointManager(d)
            self.assertEqual(ckpt.steps(), [])
            self.assertIsNone(ckpt.latest())
            with self.assertRaisesRegex(ValueError, "keep_last"):
                CheckpointManager(d, keep_last=0)
