"""The training job end to end: as a plain process and through a real TorchX launch."""

import json
import os
import shutil
import tempfile
import unittest

import pytest

from tests.scripts import run_script
from torchrec_dlf.data.synthetic import SyntheticConfig, generate

SMALL_DATA = SyntheticConfig(
    train_rows=60000,
    valid_rows=10000,
    test_rows=10000,
    num_numeric=4,
    num_categorical=10,
    max_vocab=500,
    seed=5,
)
SMALL_MODEL = [
    "--embedding_dim",
    "8",
    "--dense_arch_layer_sizes",
    "32,8",
    "--over_arch_layer_sizes",
    "64,1",
    "--dlf_num_layers",
    "2",
    "--dlf_tokens_per_block",
    "8",
    "--dlf_rank",
    "8",
    "--dlf_block_mlp_width",
    "128",
    "--batch_size",
    "1024",
    "--print_progress",
    "off",
]


@pytest.mark.e2e
class EndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.mkdtemp()
        cls.data = os.path.join(cls._tmp, "data")
        generate(SMALL_DATA, cls.data)

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls._tmp, ignore_errors=True)

    def _train(self, kind: str, *extra: str) -> dict:
        out = os.path.join(self._tmp, "results")
        done = run_script(
            [
                "launch/train.py",
                "--dataset_dir",
                self.data,
                "--interaction_type",
                kind,
                "--output_dir",
                out,
                "--run_name",
                kind,
                *SMALL_MODEL,
                *extra,
            ]
        )
        self.assertEqual(done.returncode, 0, done.stdout[-3000:] + done.stderr[-3000:])
        self.assertIn("metrics written to", done.stdout)
        with open(os.path.join(out, kind, "metrics.json")) as f:
            return json.load(f)

    def test_dlf_beats_the_first_order_model(self) -> None:
        lr = self._train("lr", "--epochs", "2")
        dlf = self._train("dlf", "--epochs", "2")
        self.assertEqual(dlf["test"]["rows"], 10000)
        self.assertEqual(dlf["world_size"], 1)
        self.assertGreater(dlf["train_samples_per_second"], 0)
        self.assertGreater(
            dlf["test"]["auc"], lr["test"]["auc"] + 0.04, (dlf["test"], lr["test"])
        )
        self.assertLess(dlf["test"]["logloss"], lr["test"]["logloss"])
        self.assertEqual(len(dlf["evaluations"]), 2)

    def test_torchx_launch_on_local_cwd(self) -> None:
        out = os.path.join(self._tmp, "torchx_results")
        done = run_script(
            [
                "torchx",
                "run",
                "dist.ddp",
                "-j",
                "1x2",
                "--script",
                "launch/train.py",
                "--",
                "--dataset_dir",
                self.data,
                "--interaction_type",
                "dlf",
                "--output_dir",
                out,
                "--run_name",
                "torchx",
                "--limit_train_batches",
                "6",
                "--limit_val_batches",
                "2",
                *SMALL_MODEL,
            ]
        )
        log = done.stdout + done.stderr
        self.assertEqual(done.returncode, 0, log[-4000:])
        self.assertIn("SUCCEEDED", log)
        with open(os.path.join(out, "torchx", "metrics.json")) as f:
            metrics = json.load(f)
        self.assertEqual(metrics["world_size"], 2)
        self.assertEqual(metrics["steps"], 6)
        self.assertEqual(
            metrics["test"]["rows"], 10000
        )  # full test set across both ranks
        self.assertEqual(metrics["valid"]["rows"], 2 * 2 * 1024)  # 2 batches per rank
