"""Per-table pooling of multi-hot fields, unsharded and under DMP on a 2-rank gloo group."""

import glob
import json
import os
import tempfile
import unittest
from typing import Dict

import pytest
import torch
from torchrec.modules.embedding_configs import PoolingType

from tests.data.helpers import write_bag_dataset
from tests.multiprocess import run_multiprocess
from tests.scripts import tiny_dlf_flags, torchrun
from tests.training.test_distributed import MODEL
from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.data.parquet_loader import ParquetBatchLoader
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.model_factory import (
    build_train_model,
    embedding_bag_configs,
    table_pooling_factors,
)
from torchrec_dlf.training.model_state import load_full_state_dict
from torchrec_dlf.training.sharded_model import EBC_PATH, build_sharded_model
from torchrec_dlf.training.sharding import build_sharding_plan

POOLINGS = ("sum", "mean")


def _sharded_vs_unsharded(rank: int, world: int, root: str) -> Dict[str, float]:
    device = torch.device("cpu")
    ctx = DistributedContext(rank, world, rank, world, device, "gloo")
    diffs = {}
    for pooling in POOLINGS:
        directory = os.path.join(root, pooling)
        meta = DatasetMetadata.read(directory)
        torch.manual_seed(0)
        reference = build_train_model(MODEL, meta, device, ebc_device=device)
        full_state = {k: v.detach().clone() for k, v in reference.state_dict().items()}
        built = build_sharded_model(MODEL, meta, ctx, 8, sharding="table_wise")
        load_full_state_dict(built.model, full_state)
        loader = ParquetBatchLoader(
            directory, "train", 8, rank, world, mode="eval", prefetch_batches=0
        )
        batch = next(iter(loader))  # this rank's rows: bags of 0-3 ids
        reference.eval()
        built.model.eval()
        with torch.no_grad():
            expected = reference(batch)[1][1]
            got = built.model(batch)[1][1]
        diffs[pooling] = (expected - got).abs().max().item()
    # The planner takes the multi-hot tables' pooling factors.
    model = build_train_model(MODEL, meta, device)
    factors = table_pooling_factors(meta)
    plan = build_sharding_plan(model, EBC_PATH, ctx, "auto", 8, pooling_factors=factors)
    diffs["planned"] = float(sorted(plan.plan[EBC_PATH]) == sorted(factors))
    return diffs


class MultiHotModelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.TemporaryDirectory()
        for pooling in POOLINGS:
            # Per-id weights pool by sum only: the mean dataset has none.
            write_bag_dataset(
                os.path.join(cls._tmp.name, pooling),
                pooling=pooling,
                weighted=pooling == "sum",
            )

    @classmethod
    def tearDownClass(cls) -> None:
        cls._tmp.cleanup()

    def test_tables_pool_as_the_metadata_says(self) -> None:
        for pooling, kind in zip(POOLINGS, (PoolingType.SUM, PoolingType.MEAN)):
            meta = DatasetMetadata.read(os.path.join(self._tmp.name, pooling))
            tables = embedding_bag_configs(meta, 8)
            self.assertEqual([t.pooling for t in tables], [PoolingType.SUM, kind, kind])
            factors = table_pooling_factors(meta)
            self.assertEqual(factors["t_C1"], 1.0)
            self.assertAlmostEqual(factors["t_G"], 33 / 23)  # 0+1+2+3 per 4 rows
            model = build_train_model(
                MODEL, meta, torch.device("cpu"), torch.device("cpu")
            )
            ebc = model.model.sparse_arch.embedding_bag_collection
            self.assertEqual(ebc.is_weighted(), pooling == "sum")
            loader = ParquetBatchLoader(
                os.path.join(self._tmp.name, pooling), "train", 8, prefetch_batches=0
            )
            kjt = next(iter(loader)).sparse_features
            pooled = ebc(kjt).to_dict()
            for key in ("G", "T"):
                weight = ebc.embedding_bags[f"t_{key}"].weight
                jagged = kjt[key]
                weights = jagged.to_dense_weights() or [
                    torch.ones(len(ids)) for ids in jagged.to_dense()
                ]
                for row, (ids, w) in enumerate(zip(jagged.to_dense(), weights)):
                    bag = (weight[ids] * w[:, None]).sum(0)
                    if pooling == "mean" and len(ids):
                        bag = bag / len(ids)
                    torch.testing.assert_close(pooled[key][row], bag)

    def test_sharded_sum_and_mean_pooling_equal_unsharded(self) -> None:
        for diffs in run_multiprocess(_sharded_vs_unsharded, 2, self._tmp.name):
            for pooling in POOLINGS:
                self.assertLess(diffs[pooling], 1e-5, pooling)
            self.assertEqual(diffs["planned"], 1.0)


@pytest.mark.e2e
class MultiHotTrainingTest(unittest.TestCase):
    def test_train_py_multi_hot_synthetic_on_two_ranks(self) -> None:
        sizes = ",".join(["3", "1", "2"] * 8 + ["5", "1"])  # 26 fields
        with tempfile.TemporaryDirectory() as tmp:
            done = torchrun(
                2,
                ["launch/train.py", *tiny_dlf_flags(batch_size=128)]
                + ["--synthetic_train_rows", "2000", "--synthetic_eval_rows", "500"]
                + ["--multi_hot", sizes, "--multi_hot_pooling", "mean"]
                + ["--cache_dir", os.path.join(tmp, "cache")]
                + ["--output_dir", tmp, "--run_name", "r", "--tensorboard", "off"],
            )  # fmt: skip
            self.assertEqual(done.returncode, 0, done.stderr[-3000:])
            with open(os.path.join(tmp, "r", "metrics.json")) as f:
                metrics = json.load(f)
            (dataset,) = glob.glob(os.path.join(tmp, "cache", "synthetic-*"))
            meta = DatasetMetadata.read(dataset)
        self.assertGreater(metrics["test"]["auc"], 0.0)
        bags = {name: bag.max_length for name, bag in meta.multi_hot.items()}
        expected = {
            name: int(size)
            for name, size in zip(meta.categorical, sizes.split(","))
            if size != "1"
        }
        self.assertEqual(bags, expected)
        self.assertEqual({b.pooling for b in meta.multi_hot.values()}, {"mean"})


if __name__ == "__main__":
    unittest.main()
