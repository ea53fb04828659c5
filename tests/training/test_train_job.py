"""The training job through ``launch/train.py`` with the production metrics and the
observability on: NE and calibration in metrics.json against the predictions of the
same weights (scored here), TensorBoard scalars read back from the event files, a profiler trace,
and a warmup + cosine learning-rate schedule continued exactly by a resumed run."""

import glob
import json
import math
import os
import shutil
import tempfile
import unittest
from typing import Dict, List

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torchmetrics.functional.classification import binary_auroc

from tests.scripts import run_script, tiny_dlf_flags
from tests.training.test_trainer import _weights
from torchrec_dlf.data.parquet_loader import ParquetBatchLoader
from torchrec_dlf.data.synthetic import SyntheticConfig, generate
from torchrec_dlf.inference.checkpoint_model import (
    load_model_weights,
    model_config,
    read_description,
    training_metadata,
)
from torchrec_dlf.training.lr_schedule import LRSchedule
from torchrec_dlf.training.metrics import roc_auc
from torchrec_dlf.training.model_factory import build_train_model
from torchrec_dlf.training.step_breakdown import PARTS, step_breakdown

DATA = SyntheticConfig(
    train_rows=2560,
    valid_rows=500,
    test_rows=500,
    num_numeric=3,
    num_categorical=4,
    max_vocab=100,
    seed=11,
)
EPOCHS, STEPS_PER_EPOCH = 2, 20  # 2560 rows at batch 128
SCHEDULE = ["--lr_schedule", "cosine", "--lr_warmup_steps", "5"]
SCHEDULE += ["--lr_decay_start", "5", "--lr_decay_end_factor", "0.1"]
FLAGS = tiny_dlf_flags(block_mlp_width=16, batch_size=128) + [
    "--dlf_dropout", "0.1", "--epochs", str(EPOCHS),
    "--validation_freq_within_epoch", "10", "--checkpoint_every_n_steps", "10",
    "--log_every_n_steps", "1", "--gradient_norm_every", "3",
    "--early_stop_patience", "5", "--gauc_field", "C1", *SCHEDULE,
]  # fmt: skip
STOP_AT = 17


def _scalars(log_dir: str) -> Dict[str, Dict[int, float]]:
    """Every scalar of the run's event files (TensorBoard's own reader), by step."""
    events = EventAccumulator(log_dir)
    events.Reload()
    return {
        tag: {e.step: e.value for e in events.Scalars(tag)}
        for tag in events.Tags()["scalars"]
    }


@pytest.mark.e2e
class TrainJobTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.mkdtemp()
        cls.data = os.path.join(cls.tmp, "data")
        generate(DATA, cls.data)
        cls.full = cls._train("full", "--profile")

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def _train(cls, name: str, *extra: str) -> Dict[str, object]:
        done = run_script(
            [
                "launch/train.py",
                "--dataset_dir",
                cls.data,
                "--output_dir",
                os.path.join(cls.tmp, "results"),
                "--run_name",
                name,
                "--checkpoint_dir",
                os.path.join(cls.tmp, f"{name}_ckpt"),
                *FLAGS,
                *extra,
            ]
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return {
            "stdout": done.stdout,
            "run_dir": os.path.join(cls.tmp, "results", name),
        }

    def _metrics(self, name: str) -> Dict[str, object]:
        with open(os.path.join(self.tmp, "results", name, "metrics.json")) as f:
            return json.load(f)

    def _best_predictions(self) -> "tuple[torch.Tensor, torch.Tensor, torch.Tensor]":
        """Logits, labels and C1 ids of the test split, scored here with the run's
        best weights (what metrics.json's test metrics were computed with)."""
        best = os.path.join(self.tmp, "full_ckpt", "best")
        description = read_description(best)
        model = build_train_model(
            model_config(description),
            training_metadata(description),
            torch.device("cpu"),
            ebc_device=torch.device("cpu"),
        )
        load_model_weights(best, model, single_process=True)
        model.eval()
        logits, labels, groups = [], [], []
        with torch.no_grad():
            for batch in ParquetBatchLoader(self.data, "test", 256, mode="eval"):
                _, (_, batch_logits, batch_labels) = model(batch)
                keep = batch_labels.flatten() >= 0
                logits.append(batch_logits.double().flatten()[keep])
                labels.append(batch_labels.double().flatten()[keep])
                groups.append(batch.sparse_features["C1"].values()[keep])
        return torch.cat(logits), torch.cat(labels), torch.cat(groups)

    def test_ne_and_calibration_are_those_of_the_predictions(self) -> None:
        metrics = self._metrics("full")
        logits, y, groups = self._best_predictions()
        p = torch.sigmoid(logits)
        self.assertEqual(len(y), DATA.test_rows)
        ctr = y.mean().item()
        logloss = -(y * p.log() + (1 - y) * (1 - p).log()).mean().item()
        entropy = -(ctr * math.log(ctr) + (1 - ctr) * math.log(1 - ctr))
        test = metrics["test"]
        self.assertAlmostEqual(test["ne"], logloss / entropy, places=5)
        self.assertAlmostEqual(test["calibration"], p.sum().item() / y.sum().item(), 5)
        self.assertAlmostEqual(test["logloss"], logloss, places=5)
        self.assertAlmostEqual(test["auc"], roc_auc(logits, y), places=6)
        self.assertAlmostEqual(test["auc"], binary_auroc(p, y.long()).item(), places=5)
        # --gauc_field C1: the row-weighted mean of each C1 value's AUC.
        total, rows = 0.0, 0
        for g in torch.unique(groups):
            yg = y[groups == g]
            if 0 < yg.sum() < yg.numel():
                total += roc_auc(logits[groups == g], yg) * yg.numel()
                rows += yg.numel()
        self.assertAlmostEqual(test["gauc"], total / rows, places=6)
        self.assertEqual(test["gauc_rows"], rows)
        self.assertIn(" GAUC ", self.full["stdout"])
        for evaluation in metrics["evaluations"]:
            self.assertGreater(evaluation["valid"]["gauc"], 0.0)
            self.assertGreater(evaluation["valid"]["ne"], 0.0)
            self.assertGreater(evaluation["valid"]["calibration"], 0.0)

    def test_tensorboard_scalars(self) -> None:
        self.assertIn("TensorBoard logs:", self.full["stdout"])
        scalars = _scalars(os.path.join(self.full["run_dir"], "tensorboard"))
        steps = list(range(1, EPOCHS * STEPS_PER_EPOCH + 1))
        for tag in (
            "train/loss",
            "train/window_ne",
            "train/window_auc",
            "train/window_calibration",
            "train/window_ctr",
            "train/lifetime_ne",
            "train/samples_per_second",
            "lr/embedding",
            "lr/dense",
        ):
            self.assertEqual(sorted(scalars[tag]), steps, tag)
        self.assertGreater(min(scalars["train/samples_per_second"].values()), 0)
        norm_steps = [s for s in steps if s % 3 == 0]
        for tag in ("gradient_norm/alpha", "gradient_norm/embeddings"):
            self.assertEqual(sorted(scalars[tag]), norm_steps, tag)
        evaluations = [10, 20, 30, 40]
        for tag in ("valid/auc", "valid/logloss", "valid/ne", "valid/calibration"):
            self.assertEqual(sorted(scalars[tag]), evaluations, tag)
        metrics = self._metrics("full")
        for tag in ("final_test/auc", "final_test/ne", "final_valid/calibration"):
            split, name = tag.split("/")
            value = metrics[split.split("_")[1]][name]
            self.assertAlmostEqual(scalars[tag][steps[-1]], value, places=5)

    def test_profile_trace(self) -> None:
        self.assertIn("profiling steps into", self.full["stdout"])
        traces = glob.glob(
            os.path.join(self.full["run_dir"], "profile", "*.pt.trace.json")
        )
        self.assertEqual(len(traces), 1, traces)
        self.assertTrue(os.path.basename(traces[0]).startswith("rank0"))
        with open(traces[0]) as f:
            trace = json.load(f)
        self.assertTrue(
            any("ProfilerStep" in e.get("name", "") for e in trace["traceEvents"])
        )
        # The trace splits into the parts of a step, and they add up to it.
        parts = step_breakdown(trace)
        self.assertGreaterEqual(parts["steps"], 1)
        for part in ("embedding", "dense_forward", "dense_backward", "optimizer"):
            self.assertGreater(parts[part], 0.0, part)
        self.assertAlmostEqual(
            sum(parts[p] for p in PARTS), parts["step_seconds"], places=6
        )

    def test_resume_continues_the_schedule_exactly(self) -> None:
        stopped = self._train("part", "--stop_after_steps", str(STOP_AT))
        self.assertIn(f"stopped after step {STOP_AT}", stopped["stdout"])
        resumed = self._train("part")
        self.assertIn("resumed from", resumed["stdout"])
        full = _scalars(os.path.join(self.full["run_dir"], "tensorboard"))
        part = _scalars(os.path.join(resumed["run_dir"], "tensorboard"))
        schedule = LRSchedule(
            "cosine",
            warmup_steps=5,
            decay_start=5,
            decay_steps=EPOCHS * STEPS_PER_EPOCH - 5,
            end_factor=0.1,
        )
        for tag, base in (("lr/embedding", 0.05), ("lr/dense", 1e-3)):
            # Logged after step s + 1 ran at the rate of (0-based) step s.
            want = [base * schedule.multiplier(s - 1) for s in sorted(full[tag])]
            got: List[float] = [full[tag][s] for s in sorted(full[tag])]
            for a, b in zip(got, want):
                self.assertAlmostEqual(a, b, delta=1e-6 * base)
            self.assertEqual(part[tag], full[tag], tag)  # steps 1..17, then 18..40
        a, b = self._metrics("full"), self._metrics("part")
        self.assertEqual(a["evaluations"], b["evaluations"])
        self.assertEqual((a["valid"], a["test"]), (b["valid"], b["test"]))
        last = f"step_{EPOCHS * STEPS_PER_EPOCH:09d}"
        wa = _weights(os.path.join(self.tmp, "full_ckpt", last))
        wb = _weights(os.path.join(self.tmp, "part_ckpt", last))
        self.assertEqual(wa.keys(), wb.keys())
        for key in wa:
            self.assertTrue(torch.equal(wa[key], wb[key]), key)


if __name__ == "__main__":
    unittest.main()
