"""Learning-rate schedules: the multipliers, the scheduler on real optimizers, and the
fused (in-backward) embedding kernel following the schedule on a sharded model."""

import math
import unittest
from typing import Dict, List

import torch
from torchrec.distributed.train_pipeline import TrainPipelineSparseDist

from tests.multiprocess import run_multiprocess
from tests.training.test_checkpoint import _batches, _build
from torchrec_dlf.training.checkpoint import _leaf_optimizers
from torchrec_dlf.training.early_stopping import EarlyStopping
from torchrec_dlf.training.lr_schedule import (
    LRSchedule,
    LRScheduler,
    schedule_from_config,
)
from torchrec_dlf.training.optimizers import param_group_labels
from torchrec_dlf.training.train_config import TrainConfig


def _optimizer() -> torch.optim.Optimizer:
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    return torch.optim.SGD([{"params": [a], "lr": 0.5}, {"params": [b], "lr": 0.01}])


class LRScheduleTest(unittest.TestCase):
    def test_warmup_then_each_decay(self) -> None:
        def m(kind: str, **kw: float) -> List[float]:
            s = LRSchedule(kind, warmup_steps=2, decay_start=4, decay_steps=4, **kw)
            return [s.multiplier(step) for step in range(10)]

        warm = [0.5, 1.0, 1.0, 1.0]
        self.assertEqual(m("constant"), warm + [1.0] * 6)
        self.assertEqual(m("plateau"), warm + [1.0] * 6)
        self.assertEqual(m("step", decay_factor=0.5), warm + [1, 1, 1, 1, 0.5, 0.5])
        self.assertEqual(m("linear"), warm + [1.0, 0.75, 0.5, 0.25, 0.0, 0.0])
        for got, want in zip(
            m("linear", end_factor=0.2), warm + [1.0, 0.8, 0.6, 0.4, 0.2, 0.2]
        ):
            self.assertAlmostEqual(got, want)
        poly = m("poly", power=2.0)  # MLPerf DLRM's decay
        self.assertEqual(poly, warm + [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0])
        cosine = m("cosine", end_factor=0.1)
        self.assertAlmostEqual(cosine[6], 0.55)  # half way: the mean of 1 and 0.1
        self.assertAlmostEqual(cosine[5], 0.1 + 0.9 * (1 + math.cos(math.pi / 4)) / 2)
        self.assertEqual(cosine[8:], [0.1, 0.1])

    def test_bad_schedules(self) -> None:
        with self.assertRaisesRegex(ValueError, "must be one of"):
            LRSchedule("exp")
        with self.assertRaisesRegex(ValueError, "decay_steps >= 1"):
            LRSchedule("linear", decay_steps=0)

    def test_decay_lasts_to_the_end_without_decay_steps(self) -> None:
        config = TrainConfig(lr_schedule="cosine", lr_decay_start=10)
        self.assertEqual(schedule_from_config(config, 110).decay_steps, 100)
        config = TrainConfig(lr_schedule="cosine", lr_decay_steps=7)
        self.assertEqual(schedule_from_config(config, 110).decay_steps, 7)


class LRSchedulerTest(unittest.TestCase):
    def test_every_group_keeps_its_own_base_rate(self) -> None:
        opt = _optimizer()
        scheduler = LRScheduler(opt, LRSchedule("linear", 0, 0, decay_steps=4))
        scheduler.apply(2)
        self.assertEqual(scheduler.learning_rates, [0.25, 0.005])

    def test_plateau_matches_early_stoppings_decay_bit_for_bit(self) -> None:
        # The trainer used to decay with EarlyStopping; the default schedule must give
        # the same numbers, the floor at 1e-6 included.
        old, new = _optimizer(), _optimizer()
        stopper = EarlyStopping(patience=0, lr_decay_factor=0.1)
        scheduler = LRScheduler(new, LRSchedule("plateau", decay_factor=0.1))
        stopper.update(1.0, old)
        for step in range(6):
            scheduler.apply(step)
            stopper.update(0.5, old)
            scheduler.on_plateau()
            self.assertEqual(
                scheduler.learning_rates, [g["lr"] for g in old.param_groups]
            )
        self.assertEqual(scheduler.learning_rates[1], 1e-6)

    def test_only_plateau_decays_on_plateau(self) -> None:
        opt = _optimizer()
        scheduler = LRScheduler(opt, LRSchedule("cosine", decay_steps=10))
        scheduler.apply(0)
        self.assertFalse(scheduler.on_plateau())
        self.assertEqual(scheduler.learning_rates, [0.5, 0.01])

    def test_state_round_trip_continues_the_schedule(self) -> None:
        schedule = LRSchedule("plateau", warmup_steps=4)
        a = LRScheduler(_optimizer(), schedule)
        a.apply(1)
        a.on_plateau()
        b = LRScheduler(_optimizer(), schedule)
        b.load_state_dict(a.state_dict())
        self.assertEqual(b.learning_rates, a.learning_rates)
        a.apply(3)
        b.apply(3)
        self.assertEqual(b.learning_rates, [0.05, 0.001])
        self.assertEqual(b.learning_rates, a.learning_rates)
        with self.assertRaisesRegex(ValueError, "param groups"):
            b.load_state_dict({"base_lrs": [1.0], "step": 0})


# Warmup over 2 steps, then linear decay from step 3 to 0 at step 5.
SCHEDULE = LRSchedule("linear", warmup_steps=2, decay_start=3, decay_steps=2)
STEPS = 7


def _kernels(model) -> List:  # pyre-ignore[2]
    """FBGEMM's table-batched embedding modules behind the fused optimizer."""
    return [sub._emb_module for sub in _leaf_optimizers(model.fused_optimizer)]


def _fused_kernel_follows(rank: int, world: int) -> Dict[str, object]:
    teacher, model, optimizer = _build(rank, world, "table_wise")
    scheduler = LRScheduler(optimizer, SCHEDULE)
    pipeline = TrainPipelineSparseDist(model, optimizer, torch.device("cpu"))
    batches = iter(_batches(teacher, rank, world, seed=5, n=STEPS))
    kernel_lrs, group_lrs, tables_moved = [], [], []
    for step in range(STEPS):
        scheduler.apply(step)
        before = [
            w.clone() for k in _kernels(model) for w in k.split_embedding_weights()
        ]
        pipeline.progress(batches)
        after = [w for k in _kernels(model) for w in k.split_embedding_weights()]
        kernel_lrs.append([k.get_learning_rate() for k in _kernels(model)])
        group_lrs.append(scheduler.learning_rates)
        tables_moved.append(any(not torch.equal(a, b) for a, b in zip(after, before)))
    return {
        "kernel_lrs": kernel_lrs,
        "group_lrs": group_lrs,
        "tables_moved": tables_moved,
        "labels": param_group_labels(optimizer, model.fused_optimizer),
    }


class FusedKernelLearningRateTest(unittest.TestCase):
    def test_the_kernels_rate_follows_warmup_and_decay(self) -> None:
        (result,) = run_multiprocess(_fused_kernel_follows, 1)
        labels = result["labels"]
        self.assertEqual(labels[:2], ["embedding", "dense"])
        want = [SCHEDULE.multiplier(s) for s in range(STEPS)]
        self.assertEqual(want, [0.5, 1.0, 1.0, 1.0, 0.5, 0.0, 0.0])
        for step, lrs in enumerate(result["kernel_lrs"]):
            self.assertTrue(lrs)
            for lr in lrs:  # FBGEMM holds it in float32
                self.assertAlmostEqual(lr, 0.05 * want[step], places=7, msg=step)
        for step, lrs in enumerate(result["group_lrs"]):
            self.assertAlmostEqual(lrs[labels.index("dense")], 3e-3 * want[step])
        # What the kernel's rate does: the tables move at every step but the last
        # two, where the schedule is at 0.
        self.assertEqual(result["tables_moved"], [True] * 5 + [False] * 2)


if __name__ == "__main__":
    unittest.main()
