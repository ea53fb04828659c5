"""build_sharded_model on real gloo process groups."""

import dataclasses
import unittest
from typing import Dict

import numpy as np
import torch

from tests.multiprocess import run_multiprocess
from tests.training.test_distributed import CONFIG, MODEL, _local_batch, _metadata
from torchrec_dlf.data.synthetic import SyntheticTeacher
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.model_factory import build_train_model, count_parameters
from torchrec_dlf.training.sharded_model import (
    EBC_PATH,
    build_sharded_model,
    build_training_model,
    compile_interaction_arch,
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


class CompileInteractionArchTest(unittest.TestCase):
    def test_compiled_arch_keeps_names_and_numbers(self) -> None:
        # TorchRec's dot arch: a small graph keeps the compile short (DLF's takes
        # minutes on two cores; the flag does the same for every arch).
        model_config = dataclasses.replace(MODEL, interaction_type="dot")
        teacher = SyntheticTeacher(CONFIG)
        metadata = _metadata(teacher)
        torch.manual_seed(0)
        eager = build_train_model(
            model_config, metadata, torch.device("cpu"), torch.device("cpu")
        )
        torch.manual_seed(0)
        compiled = build_train_model(
            model_config, metadata, torch.device("cpu"), torch.device("cpu")
        )
        compile_interaction_arch(compiled)
        self.assertEqual(list(compiled.state_dict()), list(eager.state_dict()))
        batch = _local_batch(teacher.sample(np.random.default_rng(1), 64), 0, 1)
        for model in (eager, compiled):
            model.train()
        eager_loss, (_, eager_logits, _) = eager(batch)
        loss, (_, logits, _) = compiled(batch)
        torch.testing.assert_close(logits, eager_logits, rtol=1e-4, atol=1e-5)
        eager_loss.backward()
        loss.backward()
        for (name, p), q in zip(
            compiled.model.inter_arch.named_parameters(),
            eager.model.inter_arch.parameters(),
        ):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=name)


if __name__ == "__main__":
    unittest.main()
