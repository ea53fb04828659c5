"""Smoke run of launch/bench_embeddings.py: every implementation and sharding type
measured, JSON schema and plot."""

import json
import os
import tempfile
import unittest

import pytest

from tests.scripts import run_script


@pytest.mark.e2e
class BenchEmbeddingsSmokeTest(unittest.TestCase):
    def test_smoke_preset(self) -> None:
        with tempfile.TemporaryDirectory() as out:
            done = run_script(
                ["launch/bench_embeddings.py", "--preset", "smoke", "--output_dir", out]
            )
            self.assertEqual(
                done.returncode, 0, done.stdout[-3000:] + done.stderr[-3000:]
            )
            with open(os.path.join(out, "bench_embeddings.json")) as f:
                result = json.load(f)
            self.assertTrue(
                os.path.getsize(os.path.join(out, "bench_embeddings.png")) > 0
            )
        self.assertEqual(result["schema_version"], 1)
        expected = {
            f"fused_{s}"
            for s in (
                "table_wise",
                "row_wise",
                "column_wise",
                "table_row_wise",
                "data_parallel",
            )
        }
        self.assertEqual(
            set(result["base"]), expected | {"ebc_unsharded", "nn_embeddingbag"}
        )
        for impl, m in result["base"].items():
            for phase in ("forward", "forward_backward"):
                self.assertGreater(m[phase]["lookups_per_s"], 0, impl)
                self.assertGreater(m[phase]["bytes_per_s"], 0, impl)
                self.assertIn("fraction_of_copy", m[phase])
        self.assertGreater(result["machine_limits"]["copy"]["bytes_per_s"], 0)
        self.assertGreater(result["machine_limits"]["random_gather"]["bytes_per_s"], 0)
        self.assertEqual([p["value"] for p in result["sweeps"]["batch_size"]], [64])
        self.assertIn("fused_vs_nn_embeddingbag_forward_backward", result["ratios"])
