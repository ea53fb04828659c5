"""The trainer's exact resume: interrupted and resumed on 2 ranks, it ends with the same
weights and metrics as an uninterrupted run."""

import json
import os
import shutil
import tempfile
import unittest

import pytest
import torch

from tests.scripts import tiny_dlf_flags, torchrun
from torchrec_dlf.data.synthetic import SyntheticConfig, generate
from torchrec_dlf.inference.checkpoint_model import (
    load_model_weights,
    model_config,
    read_description,
    training_metadata,
)
from torchrec_dlf.training.model_factory import build_train_model

FLAGS = tiny_dlf_flags(block_mlp_width=32) + [
    "--dlf_dropout",
    "0.1",
    "--epochs",
    "2",
    "--checkpoint_every_n_steps",
    "15",
    "--validation_freq_within_epoch",
    "20",
    "--embedding_l2",
    "0.01",
]


def _train(data: str, out: str, ckpt: str, *extra: str):
    return torchrun(
        2,
        [
            "launch/train.py",
            "--dataset_dir",
            data,
            "--output_dir",
            out,
            "--run_name",
            "run",
            "--checkpoint_dir",
            ckpt,
            *FLAGS,
            *extra,
        ],
    )


def _weights(checkpoint: str):
    description = read_description(checkpoint)
    model = build_train_model(
        model_config(description),
        training_metadata(description),
        torch.device("cpu"),
        ebc_device=torch.device("cpu"),
    )
    load_model_weights(checkpoint, model, single_process=True)
    return model.state_dict()


@pytest.mark.e2e
class ExactResumeTest(unittest.TestCase):
    def test_interrupted_run_matches_uninterrupted(self) -> None:
        self._assert_exact_resume()

    def test_whole_table_l2_on_replicated_and_fused_tables_resumes_exactly(
        self,
    ) -> None:
        # Small tables replicated with Adam, the others fused: both table decays are in
        # the combined optimizer beside the optimizers that own the same tables.
        self._assert_exact_resume(
            "--data_parallel_max_rows",
            "100",
            "--data_parallel_embedding_optimizer",
            "adam",
            "--data_parallel_embedding_learning_rate",
            "0.001",
            "--embedding_l2_mode",
            "table",
            "--embedding_l2",
            "0.05",
            "--embedding_init",
            "normal",
            "--embedding_init_std",
            "0.0001",
        )

    def _assert_exact_resume(self, *recipe: str) -> None:
        tmp = tempfile.mkdtemp()
        try:
            data = os.path.join(tmp, "data")
            generate(
                SyntheticConfig(
                    train_rows=12000,
                    valid_rows=2000,
                    test_rows=2000,
                    num_numeric=3,
                    num_categorical=6,
                    max_vocab=200,
                    seed=8,
                ),
                data,
            )
            full = _train(
                data, os.path.join(tmp, "full"), os.path.join(tmp, "full_ckpt"), *recipe
            )
            self.assertEqual(full.returncode, 0, full.stderr[-3000:])
            part = os.path.join(tmp, "part")
            stopped = _train(
                data,
                part,
                os.path.join(tmp, "part_ckpt"),
                *recipe,
                "--stop_after_steps",
                "37",
            )
            self.assertEqual(stopped.returncode, 0, stopped.stderr[-3000:])
            self.assertIn("stopped after step 37", stopped.stdout)
            self.assertFalse(os.path.exists(os.path.join(part, "run", "metrics.json")))
            resumed = _train(data, part, os.path.join(tmp, "part_ckpt"), *recipe)
            self.assertEqual(resumed.returncode, 0, resumed.stderr[-3000:])
            self.assertIn("resumed from", resumed.stdout)
            with open(os.path.join(tmp, "full", "run", "metrics.json")) as f:
                a = json.load(f)
            with open(os.path.join(part, "run", "metrics.json")) as f:
                b = json.load(f)
            self.assertEqual(a["steps"], b["steps"])
            # The record names the run, its best epoch and only the model's own settings.
            self.assertEqual(a["run_name"], "run")
            best = [e for e in a["evaluations"] if e["step"] == a["best_valid_step"]]
            self.assertEqual(a["best_epoch"], best[0]["epoch"])
            self.assertEqual(a["model"]["dlf_rank"], 4)
            self.assertNotIn("dcn_num_layers", a["model"])
            self.assertNotIn("deepfm_mlp_layer_sizes", a["model"])
            self.assertEqual(
                a["evaluations"], b["evaluations"]
            )  # every validation, bit for bit
            self.assertEqual(a["test"], b["test"])
            self.assertEqual(a["valid"], b["valid"])
            wa = _weights(os.path.join(tmp, "full_ckpt", "best"))
            wb = _weights(os.path.join(tmp, "part_ckpt", "best"))
            self.assertEqual(wa.keys(), wb.keys())
            for key in wa:
                self.assertTrue(torch.equal(wa[key], wb[key]), key)
            last_a = sorted(
                d
                for d in os.listdir(os.path.join(tmp, "full_ckpt"))
                if d.startswith("step_")
            )[-1]
            last_b = sorted(
                d
                for d in os.listdir(os.path.join(tmp, "part_ckpt"))
                if d.startswith("step_")
            )[-1]
            self.assertEqual(last_a, last_b)
            fa = _weights(os.path.join(tmp, "full_ckpt", last_a))
            fb = _weights(os.path.join(tmp, "part_ckpt", last_b))
            for key in fa:
                self.assertTrue(torch.equal(fa[key], fb[key]), key)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
