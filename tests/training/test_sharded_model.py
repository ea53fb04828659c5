"""build_sharded_model on real gloo process groups."""

import unittest
from typing import Dict

import torch

from tests.multiprocess import run_multiprocess
from tests.training.test_distributed import CONFIG, MODEL, _metadata
from torchrec_dlf.data.synthetic import SyntheticTeacher
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.model_factory import build_train_model, count_parameters
from torchrec_dlf.training.sharded_model import (
    EBC_PATH,
    build_sharded_model,
    build_training_model,
)
from torchrec_dlf.training.train_config import TrainConfig
from torchrec_dlf.user_errors import ConfigError


def _build(rank: int, world: int, max_rows: int) -> Dict[str, object]:
    ctx = DistributedContext(rank, world, rank, world, torch.device("cpu"), "gloo")
    metadata = _metadata(SyntheticTeacher(CONFIG))
    built = build_sharded_model(
        MODEL, metadata, ctx, 32, sharding="table_wise", data_parallel_max_rows=max_rows
    )
    unsharded = build_train_model(
        MODEL, metadata, torch.device("cpu"), torch.device("cpu")
    )
    return {
        "counts": built.parameter_counts,
        "expected": {
            "non_embedding": count_parameters(unsharded),
            "embedding": count_parameters(unsharded, embeddings=True),
        },
        "replicated": built.replicated_tables,
        "types": {t: p.sharding_type for t, p in built.plan.plan[EBC_PATH].items()},
        "sizes": metadata.vocab_sizes,
        "wraps": built.model.module is built.unsharded,
    }


class BuildShardedModelTest(unittest.TestCase):
    def test_plan_counts_and_replicated_tables(self) -> None:
        for r in run_multiprocess(_build, 2, 100, timeout=600):
            self.assertEqual(r["counts"], r["expected"])  # counted before sharding
            small = sorted(f"t_{c}" for c, n in r["sizes"].items() if n <= 100)
            self.assertTrue(small)
            self.assertEqual(sorted(r["replicated"]), small)
            for table, kind in r["types"].items():
                self.assertEqual(
                    kind, "data_parallel" if table in small else "table_wise"
                )
            self.assertTrue(r["wraps"])


class BuildTrainingModelTest(unittest.TestCase):
    def test_unknown_l2_mode_is_refused_before_building(self) -> None:
        ctx = DistributedContext(0, 1, 0, 1, torch.device("cpu"), "gloo")
        metadata = _metadata(SyntheticTeacher(CONFIG))
        with self.assertRaisesRegex(ConfigError, "embedding_l2_mode"):
            build_training_model(
                MODEL, TrainConfig(embedding_l2_mode="rows"), metadata, ctx
            )


if __name__ == "__main__":
    unittest.main()
