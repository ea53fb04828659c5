"""TorchRec's planner with this job's settings (reservation, constraints, memory, stats)
on a real 2-rank gloo group, and the flags that carry them."""

import contextlib
import io
import tempfile
import unittest
from typing import Dict

import torch
from torchrec.distributed.types import ShardingType

from tests.multiprocess import run_multiprocess
from tests.scripts import tiny_dlf_flags, torchrun
from tests.training.test_distributed import CONFIG, MODEL, _metadata
from torchrec_dlf.data.synthetic import SyntheticTeacher
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.model_factory import build_train_model
from torchrec_dlf.training.optimizers import apply_embedding_optimizer
from torchrec_dlf.training.sharded_model import EBC_PATH
from torchrec_dlf.training.sharding import (
    FUSED_SHARDING_TYPES,
    PlannerOptions,
    build_sharding_plan,
    planner_constraints,
)
from torchrec_dlf.user_errors import ConfigError

# The one table limited to a single sharding type, and its pooling factor.
LIMITED = "t_C1"
POOLING = 3.25


def _plan_with_settings(rank: int, world: int) -> Dict[str, object]:
    ctx = DistributedContext(rank, world, rank, world, torch.device("cpu"), "gloo")
    model = build_train_model(MODEL, _metadata(SyntheticTeacher(CONFIG)), ctx.device)
    apply_embedding_optimizer(
        model.model.sparse_arch, "rowwise_adagrad", 0.05, ctx.device
    )
    out: Dict[str, object] = {}

    # A big reservation, shown in the planner's stats (rank 0 plans and prints).
    stats = io.StringIO()
    options = PlannerOptions(storage_reservation=0.9, print_stats=True)
    with contextlib.redirect_stdout(stats):
        plan = build_sharding_plan(
            model,
            EBC_PATH,
            ctx,
            "auto",
            32,
            planner_sharding_types=[ShardingType.COLUMN_WISE.value],
            pooling_factors={LIMITED: POOLING},
            planner_options=options,
        )
    out["types"] = {t: p.sharding_type for t, p in plan.plan[EBC_PATH].items()}
    out["kernels"] = {t: p.compute_kernel for t, p in plan.plan[EBC_PATH].items()}
    out["stats"] = stats.getvalue()

    # Too little DDR for the tables: the same one-line error on both ranks.
    try:
        build_sharding_plan(
            model,
            EBC_PATH,
            ctx,
            "auto",
            32,
            planner_options=PlannerOptions(ddr_gb=1e-6),
        )
        out["tiny_ddr"] = None
    except ConfigError as e:
        out["tiny_ddr"] = str(e)
    return out


class PlannerOnTwoRanksTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.results = run_multiprocess(_plan_with_settings, 2, timeout=300)

    def test_sharding_type_constraint_is_honoured(self) -> None:
        for r in self.results:
            self.assertEqual(set(r["types"].values()), {"column_wise"})
            self.assertEqual(set(r["kernels"].values()), {"fused"})

    def test_stats_show_reservation_and_pooling_factor_on_rank_zero(self) -> None:
        stats = self.results[0]["stats"]
        self.assertIn("Reserved Memory:", stats)
        self.assertIn("Percent of Total HBM: 90%", stats)
        self.assertIn("Sum Pooling Factor", stats)
        line = next(ln for ln in stats.splitlines() if f".{LIMITED} " in ln)
        self.assertIn(str(POOLING), line)
        self.assertEqual(self.results[1]["stats"], "")  # only rank 0 plans

    def test_too_little_memory_is_one_line_error_on_every_rank(self) -> None:
        for r in self.results:
            message = r["tiny_ddr"]
            self.assertIsNotNone(message)
            self.assertIn("the sharding planner found no plan", message)
            self.assertIn("--planner_ddr_gb", message)
            self.assertNotIn("\n", message)


class PlannerConstraintsTest(unittest.TestCase):
    def setUp(self) -> None:
        model = build_train_model(
            MODEL, _metadata(SyntheticTeacher(CONFIG)), torch.device("cpu")
        )
        self.tables = (
            model.model.sparse_arch.embedding_bag_collection.embedding_bag_configs()
        )

    def test_pooling_factors_kernels_and_cache(self) -> None:
        options = PlannerOptions(compute_kernels=["fused"], uvm_caching_load_factor=0.2)
        replicated = {self.tables[1].name}
        constraints = planner_constraints(
            self.tables, replicated, None, {LIMITED: POOLING}, options
        )
        self.assertEqual(constraints[LIMITED].pooling_factors, [POOLING])
        self.assertEqual(constraints[LIMITED].sharding_types, FUSED_SHARDING_TYPES)
        self.assertEqual(
            constraints[LIMITED].compute_kernels, ["fused", "fused_uvm_caching"]
        )
        self.assertEqual(constraints[LIMITED].cache_params.load_factor, 0.2)
        small = constraints[self.tables[1].name]
        self.assertEqual(small.sharding_types, ["data_parallel"])
        self.assertIsNone(small.compute_kernels)
        self.assertEqual(small.pooling_factors, [1.0])

    def test_cuda_only_settings_are_refused_on_cpu(self) -> None:
        cpu = torch.device("cpu")
        for options, flag in (
            (PlannerOptions(uvm_caching_load_factor=0.2), "uvm_caching_load_factor"),
            (PlannerOptions(compute_kernels=["fused_uvm_caching"]), "compute_kernels"),
            (PlannerOptions(hbm_gb=1.0), "hbm_gb"),
        ):
            with self.assertRaisesRegex(ConfigError, f"--planner_{flag}"):
                options.check(cpu)
            options.check(torch.device("cuda"))  # checks only, no GPU needed

    def test_ranges(self) -> None:
        for options, flag in (
            (PlannerOptions(storage_reservation=1.0), "storage_reservation"),
            (PlannerOptions(storage_reservation=-0.1), "storage_reservation"),
            (PlannerOptions(ddr_gb=0.0), "ddr_gb"),
            (PlannerOptions(uvm_caching_load_factor=1.0), "uvm_caching_load_factor"),
            (PlannerOptions(compute_kernels=["dense"]), "compute_kernels"),
        ):
            with self.assertRaisesRegex(ConfigError, f"--planner_{flag}"):
                options.check(torch.device("cuda"))


class PrintShardingPlanScriptTest(unittest.TestCase):
    def test_two_rank_train_prints_planner_stats(self) -> None:
        proc = torchrun(
            2,
            [
                "launch/train.py",
                *tiny_dlf_flags(batch_size=64),
                "--limit_train_batches",
                "2",
                "--limit_val_batches",
                "1",
                "--limit_test_batches",
                "1",
                "--epochs",
                "1",
                "--tensorboard",
                "off",
                "--print_sharding_plan",
                "--planner_storage_reservation",
                "0.05",
                "--output_dir",
                self.tmp,
            ],
            timeout=300,
        )
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        out = proc.stdout
        self.assertIn("Reserved Memory:", out)
        self.assertIn("Percent of Total HBM: 5%", out)
        self.assertIn("Sum Pooling Factor", out)
        self.assertEqual(out.count("Reserved Memory:"), 1)  # rank 0 only

    def setUp(self) -> None:
        self._dir = tempfile.TemporaryDirectory()
        self.tmp = self._dir.name

    def tearDown(self) -> None:
        self._dir.cleanup()


if __name__ == "__main__":
    unittest.main()
