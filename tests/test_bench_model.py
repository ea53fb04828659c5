"""Smoke run of launch/bench_model.py: every model measured, JSON schema and plot."""

import json
import os
import tempfile
import unittest

import pytest

from tests.scripts import run_script


@pytest.mark.e2e
class BenchModelSmokeTest(unittest.TestCase):
    def test_smoke_preset(self) -> None:
        with tempfile.TemporaryDirectory() as out:
            done = run_script(
                ["launch/bench_model.py", "--preset", "smoke", "--output_dir", out]
            )
            self.assertEqual(
                done.returncode, 0, done.stdout[-3000:] + done.stderr[-3000:]
            )
            with open(os.path.join(out, "bench_model.json")) as f:
                result = json.load(f)
            self.assertTrue(os.path.getsize(os.path.join(out, "bench_model.png")) > 0)
        self.assertEqual(result["schema_version"], 1)
        self.assertEqual(
            set(result["models"]),
            {
                "dot",
                "dcn",
                "projection",
                "dlf",
                "dlf_streamwise",
                "dlf_released_switches",
                "dlf_reference",
            },
        )
        for name, per_precision in result["models"].items():
            self.assertEqual(set(per_precision), {"fp32", "bf16"}, name)
            for m in per_precision.values():
                self.assertGreater(m["train"]["samples_per_s"], 0)
                self.assertGreaterEqual(m["train"]["p90_s"], m["train"]["p50_s"])
                self.assertGreater(
                    m["train_flops_per_sample"], m["infer_flops_per_sample"]
                )
        for precision in ("fp32", "bf16"):
            self.assertGreater(result["matmul_peak"][precision]["flop_per_s"], 0)
        self.assertIn("dlf_vs_reference_train_fp32", result["ratios"])
        self.assertIn("dlf_bf16_train_fraction_of_bf16_peak", result["ratios"])
