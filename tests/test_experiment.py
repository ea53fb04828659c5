"""A tiny configuration of the experiment runner (1 seed, a few steps), end to end, and
the command of each run."""

import json
import os
import sys
import tempfile
import unittest

import pytest

from tests.scripts import ROOT, run_module, run_script
from torchrec_dlf.data.synthetic import SyntheticConfig, generate
from torchrec_dlf.experiments import model_specs
from torchrec_dlf.experiments.runner import (
    DLF_FAMILY,
    MODELS,
    ExperimentSpec,
    stream_imbalance,
    train_command,
)

# How a run's command shows in the experiment's output.
RUN_COMMAND = "-m torchrec_dlf.train --dataset_dir"

SMALL = [
    "--embedding_dim",
    "8",
    "--dense_arch_layer_sizes",
    "16,8",
    "--over_arch_layer_sizes",
    "16,1",
    "--batch_size",
    "256",
    "--epochs",
    "1",
    "--limit_train_batches",
    "3",
    "--limit_val_batches",
    "2",
]


@pytest.mark.e2e
class ExperimentRunnerTest(unittest.TestCase):
    def test_tiny_grid(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            data = os.path.join(d, "data")
            generate(
                SyntheticConfig(
                    train_rows=3000,
                    valid_rows=600,
                    test_rows=600,
                    num_numeric=2,
                    num_categorical=4,
                    max_vocab=50,
                    seed=3,
                ),
                data,
            )
            spec = {
                "name": "tiny",
                "dataset_dir": data,
                "models": ["dlf", "dlf_concat", "dcn"],
                "seeds": [7],
                "common": SMALL,
                "per_model": {
                    "dlf": [
                        "--dlf_num_layers",
                        "1",
                        "--dlf_tokens_per_block",
                        "2",
                        "--dlf_rank",
                        "2",
                        "--dlf_block_mlp_width",
                        "8",
                    ]
                },
            }
            spec_path = os.path.join(d, "spec.json")
            with open(spec_path, "w") as f:
                json.dump(spec, f)
            out = os.path.join(d, "out")
            # The installed module, from a directory outside the checkout.
            done = run_module(
                "torchrec_dlf.experiment",
                [spec_path, "--output_dir", out, "--", "--gradient_norm_every", "1"],
                cwd=d,
                timeout=900,
            )
            self.assertEqual(
                done.returncode, 0, done.stdout[-3000:] + done.stderr[-3000:]
            )
            with open(os.path.join(out, "results.json")) as f:
                results = json.load(f)
            with open(os.path.join(out, "results.md")) as f:
                md = f.read()
            self.assertTrue(os.path.isfile(os.path.join(out, "gradient_norms.png")))
            # The ablation inherits DLF's settings: same parameter count as dlf without NAF.
            with open(
                os.path.join(out, "runs", "dlf_concat-seed7", "metrics.json")
            ) as f:
                concat = json.load(f)
        self.assertEqual(concat["model"]["dlf_num_layers"], 1)
        self.assertEqual(concat["model"]["dlf_fusion"], "concat")
        self.assertEqual(
            {r["model"] for r in results["runs"]}, {"dlf", "dlf_concat", "dcn"}
        )
        for model in ("dlf", "dlf_concat", "dcn"):
            self.assertEqual(results["models"][model]["test_auc"]["n"], 1.0)
        self.assertIn("alpha", results["models"]["dlf"]["gradient_norms"])
        self.assertIn("fusion", results["models"]["dlf"]["gradient_norms"])
        self.assertIn("| dlf |", md)
        self.assertIn("Mean gradient norm per stream", md)
        self.assertGreaterEqual(
            results["models"]["dlf"]["stream_imbalance"]["mean"], 1.0
        )

    def test_a_stopped_grid_continues_where_it_stopped(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            data = os.path.join(d, "data")
            generate(
                SyntheticConfig(
                    train_rows=2000,
                    valid_rows=400,
                    test_rows=400,
                    num_numeric=2,
                    num_categorical=3,
                    max_vocab=40,
                    seed=4,
                ),
                data,
            )
            spec_path = os.path.join(d, "spec.json")
            with open(spec_path, "w") as f:
                json.dump(
                    {
                        "name": "resume",
                        "dataset_dir": data,
                        "models": ["dot", "dcn"],
                        "seeds": [3],
                        "common": SMALL[:-4] + ["--limit_train_batches", "4"],
                    },
                    f,
                )
            out = os.path.join(d, "out")
            # dot finishes; dcn is stopped after 2 of its 4 steps (as if the machine went away).
            first = run_script(
                [
                    "launch/experiment.py",
                    spec_path,
                    "--output_dir",
                    out,
                    "--models",
                    "dot",
                ],
                timeout=600,
            )
            self.assertEqual(
                first.returncode, 0, first.stdout[-2000:] + first.stderr[-2000:]
            )
            stopped = run_script(
                [
                    "launch/experiment.py",
                    spec_path,
                    "--output_dir",
                    out,
                    "--models",
                    "dcn",
                    "--",
                    "--stop_after_steps",
                    "2",
                ],
                timeout=600,
            )
            self.assertNotEqual(stopped.returncode, 0)
            # A report on the grid so far runs nothing and lists only the finished run.
            report = run_script(
                [
                    "launch/experiment.py",
                    spec_path,
                    "--output_dir",
                    out,
                    "--report_only",
                ],
                timeout=600,
            )
            self.assertEqual(
                report.returncode, 0, report.stdout[-2000:] + report.stderr[-2000:]
            )
            self.assertNotIn(RUN_COMMAND, report.stdout)
            self.assertIn("| dot seed 3 |", report.stdout)
            self.assertNotIn("| dcn seed 3 |", report.stdout)
            self.assertIn("| dot | 1 |", report.stdout)
            dot_metrics = os.path.join(out, "runs", "dot-seed3", "metrics.json")
            dot_mtime = os.path.getmtime(dot_metrics)
            done = run_script(
                ["launch/experiment.py", spec_path, "--output_dir", out], timeout=600
            )
            self.assertEqual(
                done.returncode, 0, done.stdout[-2000:] + done.stderr[-2000:]
            )
            self.assertIn("[experiment] dcn-seed3 (continuing)", done.stdout)
            self.assertIn("[experiment] dot-seed3: test AUC", done.stdout)
            self.assertIn(RUN_COMMAND, done.stdout)
            self.assertNotIn(RUN_COMMAND, done.stdout.split("dcn-seed3")[0])
            self.assertEqual(os.path.getmtime(dot_metrics), dot_mtime)  # not rerun
            with open(os.path.join(out, "runs", "dcn-seed3", "run.json")) as f:
                record = json.load(f)
            with open(os.path.join(out, "runs", "dcn-seed3", "metrics.json")) as f:
                metrics = json.load(f)
            with open(os.path.join(out, "runs", "dcn-seed3.log")) as f:
                log = f.read()
            with open(os.path.join(out, "results.md")) as f:
                md = f.read()
            leftover = os.path.exists(
                os.path.join(out, "runs", "dcn-seed3", "checkpoints")
            )
        self.assertEqual(record["attempts"], 2)
        self.assertGreater(record["wall_seconds"], 0.0)
        self.assertEqual(metrics["steps"], 4)
        self.assertIn("resumed from", log)
        self.assertFalse(leftover)
        self.assertIn("wall min", md)

    def test_spec_validation(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.json")
            with open(path, "w") as f:
                json.dump(
                    {
                        "name": "x",
                        "dataset_dir": d,
                        "models": ["dlf", "fm"],
                        "seeds": [1],
                    },
                    f,
                )
            with self.assertRaisesRegex(ValueError, "unknown models \\['fm'\\]"):
                ExperimentSpec.load(path)
        self.assertIn("dlf_no_low_order", MODELS)


class ExperimentSpecTest(unittest.TestCase):
    def test_flags_and_variants(self) -> None:
        spec = ExperimentSpec(
            name="x",
            dataset_dir="d",
            models=["dlf", "dlf_concat", "dcn", "small"],
            seeds=[1],
            common=["--epochs", "3"],
            per_model={"dlf": ["--dlf_rank", "8"], "dcn": ["--dcn_num_layers", "2"]},
            variants={
                "small": ["--interaction_type", "dlf", "--dlf_tokens_per_block", "4"]
            },
        )
        self.assertEqual(
            spec.flags("dlf"),
            ["--epochs", "3", "--dlf_rank", "8", "--interaction_type", "dlf"],
        )
        self.assertEqual(
            spec.flags("dlf_concat"),
            [
                "--epochs",
                "3",
                "--dlf_rank",
                "8",
                "--interaction_type",
                "dlf",
                "--dlf_fusion",
                "concat",
            ],
        )
        self.assertEqual(
            spec.flags("dcn"),
            ["--epochs", "3", "--dcn_num_layers", "2", "--interaction_type", "dcn"],
        )
        self.assertEqual(
            spec.flags("small"),
            [
                "--epochs",
                "3",
                "--interaction_type",
                "dlf",
                "--dlf_tokens_per_block",
                "4",
            ],
        )


class TrainCommandTest(unittest.TestCase):
    def test_a_run_is_the_installed_training_module(self) -> None:
        spec = ExperimentSpec(
            name="x", dataset_dir="data", models=["dcn"], seeds=[5], common=["--a"]
        )
        cmd = train_command(spec, "dcn", 5, "out/runs", ["--b"], python="py")
        self.assertEqual(
            cmd[:5], ["py", "-m", "torchrec_dlf.train", "--dataset_dir", "data"]
        )
        self.assertEqual(cmd[5:9], ["--a", "--interaction_type", "dcn", "--b"])
        self.assertEqual(cmd[cmd.index("--seed") + 1], "5")
        self.assertEqual(cmd[cmd.index("--run_name") + 1], "dcn-seed5")
        self.assertEqual(
            cmd[cmd.index("--checkpoint_dir") + 1],
            os.path.join("out/runs", "dcn-seed5", "checkpoints"),
        )
        self.assertEqual(train_command(spec, "dcn", 5, "r", [])[0], sys.executable)
        self.assertFalse([c for c in cmd if ROOT in c or c.endswith(".py")], cmd)

    def test_model_specs_are_the_runners(self) -> None:
        self.assertIs(MODELS, model_specs.MODELS)
        self.assertIs(DLF_FAMILY, model_specs.DLF_FAMILY)
        self.assertEqual(DLF_FAMILY, {m for m in MODELS if m.startswith("dlf")})


class StreamImbalanceTest(unittest.TestCase):
    def test_largest_over_smallest_per_step(self) -> None:
        history = {
            "step": [1.0, 2.0],
            "alpha": [1.0, 2.0],
            "beta": [4.0, 2.0],
            "gamma": [2.0, 1.0],
        }
        # step 1: 4 / 1; step 2: 2 / 1.
        self.assertAlmostEqual(stream_imbalance(history), 3.0)

    def test_removed_streams_are_left_out(self) -> None:
        history = {"step": [1.0], "alpha": [0.0], "beta": [3.0], "gamma": [1.5]}
        self.assertAlmostEqual(stream_imbalance(history), 2.0)
        self.assertIsNone(stream_imbalance({"step": [1.0], "beta": [1.0]}))
        self.assertIsNone(stream_imbalance(None))
