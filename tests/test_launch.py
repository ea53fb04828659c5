"""Real TorchX launches on the local_cwd scheduler: simulated multi-node, and a rank
killed mid-run that the job survives by restarting from its last checkpoint."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from typing import List, Optional

import pytest

from tests.scripts import ROOT, run_script, script_env, tiny_dlf_flags
from torchrec_dlf.data.synthetic import SyntheticConfig, generate
from torchrec_dlf.training.checkpoint import STATE_FILE

DATA = SyntheticConfig(
    train_rows=24000,
    valid_rows=4000,
    test_rows=4000,
    num_numeric=4,
    num_categorical=8,
    max_vocab=300,
    seed=9,
)
MODEL = tiny_dlf_flags()


def _worker_pid(marker: str, rank: int) -> Optional[int]:
    """PID of the training process of ``rank`` whose command line contains ``marker``."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
            if "launch/train.py" not in cmd or marker not in cmd or "torchrun" in cmd:
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(
                    kv.split("=", 1)
                    for kv in f.read().decode(errors="replace").split("\0")
                    if "=" in kv
                )
            if env.get("RANK") == str(rank) and "LOCAL_RANK" in env:
                return int(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
            continue
    return None


@pytest.mark.e2e
class TorchXLaunchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.mkdtemp()
        cls.data = os.path.join(cls._tmp, "data")
        generate(DATA, cls.data)

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls._tmp, ignore_errors=True)

    def _metrics(self, out: str, run: str) -> dict:
        with open(os.path.join(out, run, "metrics.json")) as f:
            return json.load(f)

    def test_two_simulated_nodes_of_two(self) -> None:
        out = os.path.join(self._tmp, "2x2")
        done = run_script(
            [
                "torchx",
                "run",
                "dist.ddp",
                "-j",
                "2x2",
                "--script",
                "launch/train.py",
                "--",
                "--dataset_dir",
                self.data,
                "--output_dir",
                out,
                "--run_name",
                "run",
                "--limit_train_batches",
                "10",
                *MODEL,
            ]
        )
        log = done.stdout + done.stderr
        self.assertEqual(done.returncode, 0, log[-4000:])
        self.assertIn("SUCCEEDED", log)
        metrics = self._metrics(out, "run")
        self.assertEqual(metrics["world_size"], 4)
        self.assertEqual(metrics["steps"], 10)
        self.assertEqual(metrics["test"]["rows"], 4000)

    def test_killed_rank_restarts_from_the_last_checkpoint(self) -> None:
        out = os.path.join(self._tmp, "kill")
        ckpt = os.path.join(self._tmp, "kill_ckpt")
        args = [
            "--dataset_dir",
            self.data,
            "--output_dir",
            out,
            "--epochs",
            "2",
            "--checkpoint_every_n_steps",
            "10",
            *MODEL,
        ]
        reference = run_script(
            [
                "torchx",
                "run",
                "launch/components.py:train",
                "-j",
                "1x2",
                "--",
                *args,
                "--run_name",
                "reference",
                "--checkpoint_dir",
                os.path.join(self._tmp, "ref_ckpt"),
            ]
        )
        self.assertEqual(
            reference.returncode, 0, (reference.stdout + reference.stderr)[-4000:]
        )

        job = subprocess.Popen(
            [
                "torchx",
                "run",
                "launch/components.py:train",
                "-j",
                "1x2",
                "--max_retries",
                "1",
                "--",
                *args,
                "--run_name",
                "killed",
                "--checkpoint_dir",
                ckpt,
            ],
            cwd=ROOT,
            env=script_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.time() + 300
            killed_at: List[str] = []
            while time.time() < deadline and not killed_at:
                steps = [
                    d
                    for d in (os.listdir(ckpt) if os.path.isdir(ckpt) else [])
                    if d.startswith("step_")
                ]
                if any(int(d.split("_")[1]) >= 20 for d in steps):
                    pid = _worker_pid(ckpt, rank=1)
                    if pid is not None:
                        os.kill(pid, signal.SIGKILL)
                        killed_at = sorted(steps)
                time.sleep(0.2)
            self.assertTrue(killed_at, "no checkpoint appeared in time to kill a rank")
            log, _ = job.communicate(timeout=600)
        finally:
            if job.poll() is None:
                job.kill()
        self.assertEqual(job.returncode, 0, log[-4000:])
        self.assertIn("SUCCEEDED", log)
        self.assertIn("resumed from", log)
        killed, ref = self._metrics(out, "killed"), self._metrics(out, "reference")
        # Shown with `pytest -s`: what happened, for the record.
        print(f"\n[kill test] SIGKILL to rank 1 with checkpoints {killed_at} on disk")
        print(
            "\n".join(
                line
                for line in log.splitlines()
                if "resumed from" in line or "Job finished" in line
            )
        )
        for name, m in (("reference", ref), ("killed+restarted", killed)):
            print(
                f"[kill test] {name}: steps {m['steps']} test AUC {m['test']['auc']:.6f} "
                f"logloss {m['test']['logloss']:.6f}"
            )
        print(f"[kill test] checkpoint directory: {sorted(os.listdir(ckpt))}")
        self.assertEqual(killed["steps"], ref["steps"])
        self.assertAlmostEqual(killed["test"]["auc"], ref["test"]["auc"], delta=1e-3)
        self.assertAlmostEqual(
            killed["test"]["logloss"], ref["test"]["logloss"], delta=1e-3
        )
        # Every visible checkpoint is complete; nothing half-written is left behind.
        for entry in os.listdir(ckpt):
            self.assertFalse(entry.endswith(".tmp"), entry)
            if entry.startswith("step_"):
                self.assertTrue(
                    os.path.isfile(os.path.join(ckpt, entry, STATE_FILE)), entry
                )
