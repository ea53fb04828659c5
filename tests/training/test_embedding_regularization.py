"""Embedding L2 modes: rows a batch never looks up decay (or not) exactly as documented,
for replicated tables stepped by Adam and for FBGEMM-fused sharded tables, on 2 ranks."""

import copy
import unittest
from typing import Dict, List

import numpy as np
import torch
from torchrec.distributed.train_pipeline import TrainPipelineSparseDist
from torchrec.distributed.types import ShardingType
from torchrec.optim.keyed import CombinedOptimizer, KeyedOptimizerWrapper

from tests.multiprocess import run_multiprocess
from tests.training.helpers import run_pipeline
from torchrec_dlf.data.batching import make_batch
from torchrec_dlf.data.metadata import DatasetMetadata, SplitInfo
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.embedding_regularization import (
    TableWeightDecay,
    fbgemm_decay_kwargs,
)
from torchrec_dlf.training.model_factory import ModelConfig, build_train_model
from torchrec_dlf.training.model_state import load_full_state_dict
from torchrec_dlf.training.optimizers import apply_embedding_optimizer, build_optimizer
from torchrec_dlf.training.parallel import shard_model
from torchrec_dlf.training.sharded_model import EBC_PATH
from torchrec_dlf.training.sharding import build_sharding_plan

SMALL, BIG = 10, 40  # rows of the replicated and of the row-wise sharded table
TOUCHED = 5  # batches only ever look up ids 0..4
L2, FUSED_LR, ADAM_LR, STEPS = 0.5, 0.1, 0.01, 3
MODEL = ModelConfig(
    interaction_type="dot",
    embedding_dim=4,
    dense_arch_layer_sizes=[8, 4],
    over_arch_layer_sizes=[8, 1],
)
TABLE = "model.sparse_arch.embedding_bag_collection.embedding_bags."


def _metadata() -> DatasetMetadata:
    return DatasetMetadata(
        name="tiny",
        numeric=["n0"],
        categorical=["small", "big"],
        vocab_sizes={"small": SMALL, "big": BIG},
        splits={"train": SplitInfo([], 0, 0)},
    )


def _batches(rank: int, world: int) -> List:
    rng = np.random.default_rng(5)
    out = []
    for _ in range(STEPS + 1):  # the pipeline runs one batch ahead
        n = 8 * world
        ids = rng.integers(0, TOUCHED, size=(n, 2))
        labels = rng.integers(0, 2, size=n).astype(np.float32)
        dense = rng.normal(size=(n, 1)).astype(np.float32)
        sl = slice(rank * 8, (rank + 1) * 8)
        out.append(make_batch(labels[sl], dense[sl], ids[sl], ["small", "big"]))
    return out


def _local_rows(weight: object) -> Dict[int, torch.Tensor]:
    """Global row index -> this rank's copy of that row (as numpy: tensors do not
    survive the trip back from a finished worker process)."""
    rows: Dict[int, torch.Tensor] = {}
    if hasattr(weight, "local_shards"):
        for shard in weight.local_shards():  # pyre-ignore[16]
            start = shard.metadata.shard_offsets[0]
            for i in range(shard.tensor.shape[0]):
                rows[start + i] = shard.tensor[i].detach().numpy().copy()
    else:
        for i in range(weight.shape[0]):  # pyre-ignore[16]
            rows[i] = weight[i].detach().numpy().copy()  # pyre-ignore[16]
    return rows


def _train(rank: int, world: int, mode: str) -> Dict[str, Dict[int, torch.Tensor]]:
    device = torch.device("cpu")
    ctx = DistributedContext(rank, world, rank, world, device, "gloo")
    torch.manual_seed(0)
    reference = build_train_model(MODEL, _metadata(), device, ebc_device=device)
    full = {k: v.detach().clone() for k, v in reference.state_dict().items()}
    model = build_train_model(MODEL, _metadata(), device)
    apply_embedding_optimizer(
        model.model.sparse_arch, "rowwise_adagrad", FUSED_LR, device
    )
    plan = build_sharding_plan(
        model,
        EBC_PATH,
        ctx,
        ShardingType.ROW_WISE.value,
        8,
        data_parallel_max_rows=SMALL,
    )
    sharded = shard_model(model, plan, device)
    load_full_state_dict(sharded, full)
    optimizer = build_optimizer(
        sharded,
        "adam",
        1e-3,
        "rowwise_adagrad",
        FUSED_LR,
        replicated_embedding_optimizer="adam",
        replicated_embedding_learning_rate=ADAM_LR,
        embedding_l2_mode=mode,
        embedding_l2=L2,
    )
    pipeline = TrainPipelineSparseDist(sharded, optimizer, device)
    steps = run_pipeline(pipeline, sharded, _batches(rank, world))
    assert steps == STEPS + 1, steps
    fused = sharded.fused_optimizer.params
    params = dict(sharded.named_parameters())
    return {
        "plan": {
            t: s.sharding_type for t, s in plan.plan[EBC_PATH].items()
        },  # pyre-ignore
        "small": _local_rows(params[TABLE + "t_small.weight"]),
        "big": _local_rows(fused[TABLE + "t_big.weight"]),
        "init_small": _local_rows(full[TABLE + "t_small.weight"]),
        "init_big": _local_rows(full[TABLE + "t_big.weight"]),
    }


def _adam_on_penalty_only(rows: torch.Tensor, steps: int) -> torch.Tensor:
    """Plain PyTorch: rows whose only gradient is that of (L2/2)||W||^2, under Adam."""
    w = rows.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=ADAM_LR)
    for _ in range(steps):
        opt.zero_grad()
        (L2 / 2 * w.square().sum()).backward()
        opt.step()
    return w.detach()


def _untouched(rows: Dict[int, np.ndarray]) -> Dict[int, torch.Tensor]:
    return {i: torch.from_numpy(r) for i, r in rows.items() if i >= TOUCHED}


def _row(rows: Dict[int, np.ndarray], i: int) -> torch.Tensor:
    return torch.from_numpy(rows[i])


class WholeTableL2OnTwoRanksTest(unittest.TestCase):
    """Every mode on the same 2-rank job: table ``small`` replicated (Adam), ``big``
    row-wise sharded across both ranks (fused row-wise Adagrad)."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.results = {
            mode: run_multiprocess(_train, 2, mode)
            for mode in ("lookup", "table", "decoupled")
        }

    def test_plan_mixes_replicated_and_sharded_tables(self) -> None:
        plan = self.results["table"][0]["plan"]
        self.assertEqual(plan, {"t_small": "data_parallel", "t_big": "row_wise"})

    def test_each_rank_holds_part_of_the_big_table(self) -> None:
        ranks = self.results["table"]
        self.assertEqual(len(ranks[0]["big"]) + len(ranks[1]["big"]), BIG)
        self.assertTrue(_untouched(ranks[0]["big"]) and _untouched(ranks[1]["big"]))

    def test_lookup_mode_leaves_untouched_rows_alone(self) -> None:
        for rank in self.results["lookup"]:
            for key in ("small", "big"):
                for i, row in _untouched(rank[key]).items():
                    torch.testing.assert_close(
                        row, _row(rank[f"init_{key}"], i), rtol=0, atol=0
                    )

    def test_table_mode_fused_rows_take_the_sgd_step_of_the_penalty(self) -> None:
        factor = (1 - FUSED_LR * L2) ** (STEPS + 1)
        for rank in self.results["table"]:
            for i, row in _untouched(rank["big"]).items():
                torch.testing.assert_close(row, _row(rank["init_big"], i) * factor)

    def test_table_mode_replicated_rows_follow_adam_on_the_penalty(self) -> None:
        for rank in self.results["table"]:
            init = torch.stack(
                [_row(rank["init_small"], i) for i in range(TOUCHED, SMALL)]
            )
            expected = _adam_on_penalty_only(init, STEPS + 1)
            got = torch.stack([_row(rank["small"], i) for i in range(TOUCHED, SMALL)])
            torch.testing.assert_close(got, expected)
            # Adam normalises the gradient: about lr per step, whatever lambda is.
            self.assertLess(
                (got - init).abs().max().item(), ADAM_LR * (STEPS + 1) * 1.01
            )

    def test_decoupled_mode_decays_every_table_by_its_learning_rate(self) -> None:
        for rank in self.results["decoupled"]:
            for key, lr in (("big", FUSED_LR), ("small", ADAM_LR)):
                factor = (1 - lr * L2) ** (STEPS + 1)
                for i, row in _untouched(rank[key]).items():
                    torch.testing.assert_close(
                        row, _row(rank[f"init_{key}"], i) * factor
                    )

    def test_both_ranks_hold_the_same_replicated_table(self) -> None:
        for mode in ("table", "decoupled"):
            a, b = self.results[mode]
            for i in range(SMALL):
                torch.testing.assert_close(
                    _row(a["small"], i), _row(b["small"], i), rtol=0, atol=0
                )


class TableWeightDecayTest(unittest.TestCase):
    def test_coupled_adds_the_penalty_gradient(self) -> None:
        w = torch.ones(3, 2, requires_grad=True)
        w.grad = torch.full((3, 2), 0.25)
        TableWeightDecay({"w": w}, {}, l2=0.5, lr=0.1).step()
        torch.testing.assert_close(w.grad, torch.full((3, 2), 0.75))
        torch.testing.assert_close(w.detach(), torch.ones(3, 2))

    def test_decay_every_n_steps_compounds_and_follows_the_lr(self) -> None:
        w = torch.ones(4)
        decay = TableWeightDecay({}, {"w": w}, l2=0.5, lr=0.1, every_n_steps=2)
        decay.step()
        torch.testing.assert_close(w, torch.ones(4))  # not yet
        decay.step()
        torch.testing.assert_close(w, torch.full((4,), 0.95**2))
        for group in decay.param_groups:  # learning-rate decay on plateau
            group["lr"] = 0.01
        decay.step()
        decay.step()
        torch.testing.assert_close(w, torch.full((4,), 0.95**2 * 0.995**2))

    def test_stateless_so_loading_a_checkpoint_moves_nothing(self) -> None:
        w = torch.ones(4)
        decay = TableWeightDecay({}, {"w": w}, l2=0.5, lr=0.1)
        decay.init_state()
        torch.testing.assert_close(w, torch.ones(4))
        self.assertEqual(len(decay.state), 0)

    def test_combined_optimizer_state_dict_round_trips(self) -> None:
        # The decay shares its tables with the optimizer that steps them; the combined
        # optimizer's state (keyed by tensor) must still save and load.
        w = torch.nn.Parameter(torch.randn(5, 2))
        adam = KeyedOptimizerWrapper(
            {"t.weight": w}, lambda p: torch.optim.Adam(p, lr=1e-3)
        )
        decay = TableWeightDecay({"t.weight": w}, {}, l2=0.5, lr=1e-3)
        combined = CombinedOptimizer([("table_l2", decay), adam])
        w.grad = torch.ones_like(w)
        combined.step()
        saved = copy.deepcopy(combined.state_dict())
        w.grad = torch.ones_like(w)
        combined.step()
        combined.load_state_dict(saved)
        torch.testing.assert_close(
            adam.state[w]["exp_avg"], saved["state"]["t.weight"]["exp_avg"]
        )
        self.assertEqual(list(decay.tables), ["t.weight"])

    def test_rejects_bad_arguments(self) -> None:
        with self.assertRaisesRegex(ValueError, "l2 must be >= 0"):
            TableWeightDecay({}, {"w": torch.ones(1)}, l2=-1.0, lr=0.1)
        with self.assertRaisesRegex(ValueError, "both coupled and decayed"):
            TableWeightDecay({"w": torch.ones(1)}, {"w": torch.ones(1)}, l2=1.0, lr=0.1)


class FbgemmDecayKwargsTest(unittest.TestCase):
    def test_refused_on_cpu(self) -> None:
        with self.assertRaisesRegex(ValueError, "needs CUDA"):
            fbgemm_decay_kwargs(
                "decoupled", 0.1, "rowwise_adagrad", torch.device("cpu")
            )

    def test_only_decoupled_rowwise_adagrad(self) -> None:
        with self.assertRaisesRegex(ValueError, "DECOUPLE_GLOBAL"):
            fbgemm_decay_kwargs("table", 0.1, "adagrad", torch.device("cuda"))

    def test_global_weight_decay_kwargs(self) -> None:
        kwargs = fbgemm_decay_kwargs(
            "decoupled", 0.1, "rowwise_adagrad", torch.device("cuda")
        )
        self.assertEqual(kwargs["weight_decay"], 0.1)
        self.assertEqual(int(kwargs["weight_decay_mode"]), 5)  # DECOUPLE_GLOBAL


if __name__ == "__main__":
    unittest.main()
