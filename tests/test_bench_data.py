"""Smoke run of launch/bench_data.py: it runs end to end and writes its JSON schema."""

import json
import os
import tempfile
import unittest

import pytest

from tests.scripts import run_script


@pytest.mark.e2e
class BenchDataSmokeTest(unittest.TestCase):
    def test_smoke_run_writes_both_ratios(self) -> None:
        with tempfile.TemporaryDirectory() as out:
            done = run_script(
                [
                    "launch/bench_data.py",
                    "--rows",
                    "8000",
                    "--batch_size",
                    "512",
                    "--train_steps",
                    "2",
                    "--smoke",
                    "--output_dir",
                    out,
                ]
            )
            self.assertEqual(
                done.returncode, 0, done.stdout[-3000:] + done.stderr[-3000:]
            )
            with open(os.path.join(out, "bench_data.json")) as f:
                result = json.load(f)
        self.assertEqual(result["schema_version"], 1)
        self.assertEqual(result["preparation"]["rows"], 8000)
        for key in (
            "torchrec_dlf_rows_per_second",
            "torchrec_tsv_to_npys_rows_per_second",
            "ratio",
        ):
            self.assertGreater(result["preparation"][key], 0)
        self.assertGreater(result["loader"]["batches"], 0)
        self.assertEqual(set(result["training"]), {"fp32", "bf16"})
        for key in ("preparation_vs_torchrec", "loader_vs_training"):
            self.assertGreater(result["ratios"][key], 0)
        self.assertEqual(
            result["targets"],
            {"preparation_vs_torchrec": 5.0, "loader_vs_training": 10.0},
        )
