"""launch/gpu_check.sh where no GPU is: it stops at once without a CUDA device, writing
nothing, and its CPU half (the reference training job, through the launch line) runs
and is what run_comparison reads."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

import pytest
import torch

from tests.scripts import ROOT, script_env

GPU_CHECK = os.path.join(ROOT, "launch", "gpu_check.sh")


def gpu_check(*args: str, timeout: float = 900, **env: str):
    return subprocess.run(
        ["bash", GPU_CHECK, *args],
        cwd=ROOT,
        env=dict(script_env(), **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class GpuCheckScriptTest(unittest.TestCase):
    def test_shell_scripts_parse(self) -> None:
        for script in (GPU_CHECK, os.path.join(ROOT, "scripts", "setup_env.sh")):
            done = subprocess.run(
                ["bash", "-n", script], capture_output=True, text=True
            )
            self.assertEqual(done.returncode, 0, (script, done.stderr))

    @unittest.skipIf(torch.cuda.is_available(), "this host has a CUDA device")
    def test_without_cuda_it_stops_at_once_and_writes_nothing(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out")
            done = gpu_check(OUT_DIR=out, timeout=300)
            self.assertEqual(done.returncode, 2, done.stdout + done.stderr)
            lines = done.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, done.stderr)
            self.assertTrue(lines[0].startswith("error: no CUDA device: torch "), lines)
            self.assertIn("--cpu-reference-only", lines[0])
            self.assertFalse(os.path.exists(out))

    def test_unknown_argument(self) -> None:
        done = gpu_check("--cpu")
        self.assertEqual(done.returncode, 2)
        self.assertIn("error: unknown argument '--cpu'", done.stderr)


@pytest.mark.e2e
class CpuReferenceTest(unittest.TestCase):
    def test_cpu_reference_job_and_its_comparison(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out")
            done = gpu_check(
                "--cpu-reference-only",
                OUT_DIR=out,
                GPU_CHECK_TRAIN_ROWS="20000",
                GPU_CHECK_EVAL_ROWS="4000",
                GPU_CHECK_STEPS="5",
            )
            log = done.stdout + done.stderr
            self.assertEqual(done.returncode, 0, log[-4000:])
            self.assertIn("Job finished: SUCCEEDED", log)
            with open(os.path.join(out, "summary.txt")) as f:
                summary = [line.split()[:2] for line in f]
            self.assertEqual(
                summary, [["environment", "ok"], ["cpu_rowwise_table", "ok"]]
            )
            run = os.path.join(out, "jobs", "cpu_rowwise_table")
            with open(os.path.join(run, "metrics.json")) as f:
                metrics = json.load(f)
            self.assertEqual((metrics["device"], metrics["backend"]), ("cpu", "gloo"))
            self.assertEqual(metrics["steps"], 5)
            self.assertEqual(metrics["train"]["embedding_l2_mode"], "table")
            self.assertEqual(metrics["train"]["embedding_optimizer"], "rowwise_adagrad")
            self.assertTrue(os.path.isdir(os.path.join(out, "data")))  # under OUT_DIR
            self.assertTrue(os.path.isfile(os.path.join(out, "environment.txt")))
            # What the GPU host's compare step runs, on this real record.
            same = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "torchrec_dlf.training.run_comparison",
                    run,
                    run,
                ],
                cwd=ROOT,
                env=script_env(),
                capture_output=True,
                text=True,
            )
            self.assertEqual(same.returncode, 0, same.stdout + same.stderr)
            self.assertIn("same job: 1 rank(s), 5 steps", same.stdout)
            # A second run into the same directory is refused before it writes anything.
            again = gpu_check("--cpu-reference-only", OUT_DIR=out, timeout=120)
            self.assertEqual(again.returncode, 2)
            self.assertIn("exists and is not empty", again.stderr)
