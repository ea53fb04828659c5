"""run_comparison: two metrics.json of one job agree within tolerances, or the
differences are listed (exit 1); unreadable records are one error line (exit 2)."""

import contextlib
import io
import json
import os
import tempfile
import unittest
from typing import Any, Dict, List, Tuple

from torchrec_dlf.training.run_comparison import main


def record(device: str = "cpu", backend: str = "gloo") -> Dict[str, Any]:
    """A run record with the fields of the trainer's metrics.json that matter here."""
    return {
        "run_name": f"job-{device}",
        "model": {"interaction_type": "dlf", "embedding_dim": 16, "dlf_rank": 8},
        "train": {
            "epochs": 1,
            "batch_size": 1024,
            "embedding_optimizer": "rowwise_adagrad",
            "embedding_l2_mode": "table",
            "embedding_l2": 0.001,
            "output_dir": f"results/{device}",
            "run_name": f"job-{device}",
            "print_progress": False,
        },
        "dataset": {"rows": {"train": 100000, "valid": 20000, "test": 20000}},
        "world_size": 1,
        "device": device,
        "backend": backend,
        "steps": 98,
        "epochs_completed": 1,
        "valid": {"auc": 0.7012, "logloss": 0.4811, "rows": 20000.0},
        "test": {"auc": 0.6987, "logloss": 0.4835, "rows": 20000.0},
    }


class RunComparisonTest(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def _write(self, name: str, content: Dict[str, Any]) -> str:
        run_dir = os.path.join(self.dir, name)
        os.makedirs(run_dir)
        with open(os.path.join(run_dir, "metrics.json"), "w") as f:
            json.dump(content, f)
        return run_dir

    def _compare(self, *argv: str) -> Tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(list(argv))
        return status, out.getvalue(), err.getvalue()

    def _pair(self, change) -> List[str]:
        cuda = record("cuda:0", "nccl")
        change(cuda)
        return [self._write("cpu", record()), self._write("cuda", cuda)]

    def test_the_same_job_within_tolerance_agrees(self) -> None:
        def nudge(r: Dict[str, Any]) -> None:
            r["valid"]["auc"] += 0.004
            r["test"]["logloss"] -= 0.003

        output = os.path.join(self.dir, "comparison.json")
        status, out, _ = self._compare(*self._pair(nudge), "--output", output)
        self.assertEqual(status, 0, out)
        self.assertIn("result: the runs agree within the tolerances", out)
        self.assertIn("cpu/gloo", out)
        self.assertIn("cuda:0/nccl", out)
        with open(output) as f:
            written = json.load(f)
        self.assertTrue(written["agree"])
        valid_auc = next(r for r in written["metrics"] if r["metric"] == "valid auc")
        self.assertAlmostEqual(valid_auc["difference"], 0.004)

    def test_a_metric_beyond_its_tolerance_differs(self) -> None:
        def shift(r: Dict[str, Any]) -> None:
            r["test"]["auc"] -= 0.05

        status, out, _ = self._compare(*self._pair(shift))
        self.assertEqual(status, 1)
        self.assertRegex(out, r"test auc .* -0\.050000 +0\.02  DIFFERS")
        self.assertIn("result: DIFFERENT", out)
        # A wider tolerance accepts it.
        status, _, _ = self._compare(
            os.path.join(self.dir, "cpu"),
            os.path.join(self.dir, "cuda"),
            "--auc_tolerance",
            "0.06",
        )
        self.assertEqual(status, 0)

    def test_a_metric_that_is_not_finite_never_agrees(self) -> None:
        def diverge(r: Dict[str, Any]) -> None:
            r["valid"]["logloss"] = float("nan")

        status, out, _ = self._compare(*self._pair(diverge))
        self.assertEqual(status, 1)
        self.assertRegex(out, r"valid logloss .* nan .* DIFFERS")

    def test_another_job_is_named_setting_by_setting(self) -> None:
        def other(r: Dict[str, Any]) -> None:
            r["train"]["embedding_optimizer"] = "adam"
            r["steps"] = 97

        status, out, _ = self._compare(*self._pair(other))
        self.assertEqual(status, 1)
        self.assertIn("not the same job:", out)
        self.assertIn("train.embedding_optimizer: 'rowwise_adagrad' != 'adam'", out)
        self.assertIn("steps: 98 != 97", out)
        # Where a run writes (output_dir, run_name) and the device are not the job.
        self.assertNotIn("output_dir", out)
        self.assertNotIn("device", out)

    def test_ignored_settings(self) -> None:
        def reseed(r: Dict[str, Any]) -> None:
            r["train"]["seed"] = 7

        cpu, cuda = self._pair(reseed)
        self.assertEqual(self._compare(cpu, cuda)[0], 1)
        self.assertEqual(self._compare(cpu, cuda, "--ignore", "train.seed")[0], 0)

    def test_unreadable_records_are_one_line_and_exit_2(self) -> None:
        good = self._write("good", record())
        broken = os.path.join(self.dir, "broken.json")
        with open(broken, "w") as f:
            f.write("{not json")
        partial = os.path.join(self.dir, "partial.json")
        with open(partial, "w") as f:
            json.dump({k: v for k, v in record().items() if k != "steps"}, f)
        for other, message in (
            (os.path.join(self.dir, "absent"), "error: no run record at"),
            (broken, "error: cannot read the run record"),
            (partial, "is not a metrics.json of the trainer (no steps)"),
        ):
            status, out, err = self._compare(good, other)
            self.assertEqual(status, 2, (out, err))
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.assertIn(message, err)
