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


def _record(samples_per_s: float) -> dict:
    return {"train": {"samples_per_s": samples_per_s}}


class MedianRoundTest(unittest.TestCase):
    def test_median_record_per_model_and_precision(self) -> None:
        from torchrec_dlf.bench_model import _median_round

        rounds = [
            {"a": {"fp32": _record(3.0), "bf16": _record(10.0)}},
            {"a": {"fp32": _record(1.0), "bf16": _record(30.0)}},
            {"a": {"fp32": _record(2.0), "bf16": _record(20.0)}},
        ]
        median = _median_round(rounds)
        self.assertIs(median["a"]["fp32"], rounds[2]["a"]["fp32"])
        self.assertIs(median["a"]["bf16"], rounds[2]["a"]["bf16"])
        # An even count takes the lower middle round.
        self.assertIs(_median_round(rounds[:2])["a"]["fp32"], rounds[1]["a"]["fp32"])


@pytest.mark.e2e
class BenchModelRoundsTest(unittest.TestCase):
    def test_ratios_are_medians_over_rounds(self) -> None:
        with tempfile.TemporaryDirectory() as out:
            done = run_script(
                [
                    "launch/bench_model.py",
                    "--preset",
                    "smoke",
                    "--models",
                    "dlf,dlf_reference",
                    "--precisions",
                    "fp32",
                    "--rounds",
                    "3",
                    "--output_dir",
                    out,
                ]
            )
            self.assertEqual(done.returncode, 0, done.stderr[-3000:])
            with open(os.path.join(out, "bench_model.json")) as f:
                result = json.load(f)
        self.assertEqual(result["rounds"], 3)
        key = "dlf_vs_reference_train_fp32"
        by_round = sorted(r[key] for r in result["ratios_by_round"])
        self.assertEqual(len(by_round), 3)
        self.assertEqual(result["ratios"][key], by_round[1])


class BenchModelArgumentsTest(unittest.TestCase):
    def test_rounds_below_one_is_refused_before_measuring(self) -> None:
        from torchrec_dlf.bench_model import parse_args

        with self.assertRaises(SystemExit) as raised:
            parse_args(["--rounds", "0"])
        self.assertEqual(raised.exception.code, 2)
        self.assertEqual(parse_args(["--rounds", "2"]).rounds, 2)
