import contextlib
import io
import json
import os
import tempfile
import unittest
from types import SimpleNamespace

import torch
from torchrec.distributed.types import ShardingPlan

from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.model_config import ModelConfig
from torchrec_dlf.training.report import (
    build_results,
    progress_bar,
    run_banner,
    write_report,
)
from torchrec_dlf.training.train_config import TrainConfig
from torchrec_dlf.training.train_state import TrainerState

CTX = DistributedContext(0, 1, 0, 1, torch.device("cpu"), "gloo")
METADATA = SimpleNamespace(
    name="tiny",
    splits={"train": SimpleNamespace(rows=10), "valid": SimpleNamespace(rows=4)},
)
KEYS = [
    "run_name", "model", "train", "dataset", "parameters", "world_size", "device",
    "backend", "host_allocator", "sharding_plan", "steps", "epochs_completed", "train_samples",
    "train_seconds", "train_samples_per_second", "wall_seconds", "evaluations",
    "gradient_norms", "best_valid_step", "best_epoch", "valid", "test", "versions",
]  # fmt: skip
METRICS = {"auc": 0.75, "logloss": 0.5}


def _results(state: TrainerState, best_step: int):  # pyre-ignore[3]
    return build_results(
        run_name="run",
        model_config=ModelConfig(),
        train_config=TrainConfig(),
        dataset_dir="data",
        metadata=METADATA,  # pyre-ignore[6]
        ctx=CTX,
        plan=ShardingPlan({}),
        parameter_counts={"non_embedding": 1234, "embedding": 10},
        state=state,
        best_step=best_step,
        gradient_norms=None,
        final={"valid": METRICS, "test": METRICS},
        wall_seconds=3.0,
    )


class RunBannerTest(unittest.TestCase):
    def test_line(self) -> None:
        line = run_banner(ModelConfig(), METADATA, "data", CTX, 1234)  # pyre-ignore[6]
        self.assertEqual(
            line,
            f"[torchrec_dlf] {ModelConfig().interaction_type} on tiny (data), 1 rank(s), "
            "cpu/gloo, non-embedding parameters 1,234",
        )


class ProgressBarTest(unittest.TestCase):
    def test_off(self) -> None:
        self.assertIsNone(progress_bar(False, 0, 10))


class BuildResultsTest(unittest.TestCase):
    def test_keys_and_values(self) -> None:
        evaluations = [{"epoch": 0, "step": 5}, {"epoch": 1, "step": 10}]
        state = TrainerState(
            epoch=2,
            global_step=10,
            train_samples=200,
            train_seconds=4.0,
            evaluations=evaluations,
        )
        results = _results(state, best_step=10)
        self.assertEqual(list(results), KEYS)
        self.assertEqual(results["train"]["batch_size"], TrainConfig().batch_size)
        self.assertEqual(results["dataset"]["rows"], {"train": 10, "valid": 4})
        self.assertEqual(results["dataset"]["dir"], os.path.abspath("data"))
        self.assertEqual(results["train_samples_per_second"], 50.0)
        self.assertEqual((results["best_valid_step"], results["best_epoch"]), (10, 1))
        self.assertIsNone(results["gradient_norms"])

    def test_no_training_no_rate_no_best(self) -> None:
        results = _results(TrainerState(), best_step=-1)
        self.assertEqual(results["train_samples_per_second"], 0.0)
        self.assertIsNone(results["best_epoch"])


class WriteReportTest(unittest.TestCase):
    def test_writes_metrics_and_prints_the_summary(self) -> None:
        results = _results(TrainerState(), best_step=-1)
        with tempfile.TemporaryDirectory() as out:
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                write_report(results, out, "dlf")
            path = os.path.join(os.path.abspath(out), "run", "metrics.json")
            self.assertEqual(results["metrics_path"], path)
            with open(path) as f:
                self.assertEqual(list(json.load(f)), KEYS)
        self.assertEqual(
            printed.getvalue(),
            "[torchrec_dlf] run (dlf): valid AUC 0.75000 logloss 0.50000 | "
            "test AUC 0.75000 logloss 0.50000 | 0 samples/s | "
            f"non-embedding params 1,234\n[torchrec_dlf] metrics written to {path}\n",
        )


if __name__ == "__main__":
    unittest.main()
