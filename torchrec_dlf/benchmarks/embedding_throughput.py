"""Embedding lookup throughput: FBGEMM's fused kernels through DMP (per sharding type),
TorchRec's unsharded EmbeddingBagCollection, and plain torch.nn.EmbeddingBag per table.

Bytes are counted from the rows the lookups touch: forward reads every looked-up row
once (lookups x D x 4 bytes); forward+backward adds the update, which reads and writes
each looked-up row again (3 x lookups x D x 4 bytes; optimizer state not counted).
"""

from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor
from torchrec.distributed.types import ShardingPlan
from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward
from torchrec.optim.rowwise_adagrad import RowWiseAdagrad

from torchrec_dlf.benchmarks.timing import time_steps
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.optimizers import build_optimizer
from torchrec_dlf.training.parallel import shard_model
from torchrec_dlf.training.sharding import uniform_sharding_generators


@dataclass(frozen=True)
class EmbeddingConfig:
    batch_size: int = 8192
    pooling: int = 20
    dim: int = 64
    tables: int = 8
    rows: int = 1_000_000
    zipf: float = 1.05

    @property
    def lookups(self) -> int:
        return self.batch_size * self.tables * self.pooling


def make_kjt(config: EmbeddingConfig, seed: int) -> KeyedJaggedTensor:
    """A batch with ``pooling`` ids per bag per table, Zipf-distributed (uniform at 0)."""
    rng = np.random.default_rng(seed)
    n = config.lookups
    if config.zipf > 0:
        ranks = np.minimum(rng.zipf(1.0 + config.zipf, n) - 1, config.rows - 1)
        ids = (ranks * 2654435761) % config.rows  # spread popular ids over the table
    else:
        ids = rng.integers(0, config.rows, n)
    return KeyedJaggedTensor(
        keys=[f"f{t}" for t in range(config.tables)],
        values=torch.from_numpy(ids.astype(np.int64)),
        lengths=torch.full(
            (config.tables * config.batch_size,), config.pooling, dtype=torch.int32
        ),
    )


def _tables(config: EmbeddingConfig) -> List[EmbeddingBagConfig]:
    return [
        EmbeddingBagConfig(
            name=f"t{t}",
            embedding_dim=config.dim,
            num_embeddings=config.rows,
            feature_names=[f"f{t}"],
        )
        for t in range(config.tables)
    ]


def fused_sharded(
    config: EmbeddingConfig, sharding: str, ctx: DistributedContext
) -> Dict[str, Callable[[KeyedJaggedTensor], None]]:
    """DMP over an EBC with FBGEMM's fused kernels and row-wise Adagrad in backward."""
    tables = _tables(config)
    ebc = EmbeddingBagCollection(tables=tables, device=torch.device("meta"))
    apply_optimizer_in_backward(RowWiseAdagrad, ebc.parameters(), {"lr": 0.01})
    from torchrec.distributed.sharding_plan import construct_module_sharding_plan

    plan = ShardingPlan(
        {
            "": construct_module_sharding_plan(
                ebc,
                uniform_sharding_generators(tables, sharding, ctx),
                local_size=ctx.local_world_size,
                world_size=ctx.world_size,
                device_type=ctx.device.type,
            )
        }
    )
    model = shard_model(ebc, plan, ctx.device)
    # data_parallel tables are not updated in backward: step them like the trainer does.
    optimizer = build_optimizer(model, "sgd", 0.0, "rowwise_adagrad", 0.01)

    def forward(kjt: KeyedJaggedTensor) -> None:
        with torch.no_grad():
            model(kjt).values()

    def train(kjt: KeyedJaggedTensor) -> None:
        model(kjt).values().sum().backward()
        optimizer.step()
        optimizer.zero_grad()

    return {"forward": forward, "forward_backward": train}


def unsharded_ebc(
    config: EmbeddingConfig, device: torch.device
) -> Dict[str, Callable[[KeyedJaggedTensor], None]]:
    """TorchRec's EmbeddingBagCollection as a plain module: dense gradients, Adagrad."""
    ebc = EmbeddingBagCollection(tables=_tables(config), device=device)
    optimizer = torch.optim.Adagrad(ebc.parameters(), lr=0.01)

    def forward(kjt: KeyedJaggedTensor) -> None:
        with torch.no_grad():
            ebc(kjt).values()

    def train(kjt: KeyedJaggedTensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        ebc(kjt).values().sum().backward()
        optimizer.step()

    return {"forward": forward, "forward_backward": train}


def plain_embedding_bags(
    config: EmbeddingConfig, device: torch.device
) -> Dict[str, Callable[[KeyedJaggedTensor], None]]:
    """One torch.nn.EmbeddingBag per table, sparse gradients, sparse Adagrad."""
    bags = nn.ModuleList(
        nn.EmbeddingBag(config.rows, config.dim, mode="sum", sparse=True, device=device)
        for _ in range(config.tables)
    )
    optimizer = torch.optim.Adagrad(bags.parameters(), lr=0.01)
    batch, pooling = config.batch_size, config.pooling

    def lookup(kjt: KeyedJaggedTensor) -> torch.Tensor:
        ids = kjt.values().view(config.tables, batch * pooling)
        offsets = torch.arange(0, batch * pooling, pooling, device=ids.device)
        return torch.cat([bag(ids[t], offsets) for t, bag in enumerate(bags)], dim=1)

    def forward(kjt: KeyedJaggedTensor) -> None:
        with torch.no_grad():
            lookup(kjt)

    def train(kjt: KeyedJaggedTensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        lookup(kjt).sum().backward()
        optimizer.step()

    return {"forward": forward, "forward_backward": train}


def measure(
    steps_by_phase: Dict[str, Callable[[KeyedJaggedTensor], None]],
    config: EmbeddingConfig,
    device: torch.device,
    warmup: int,
    steps: int,
    world_size: int = 1,
) -> Dict[str, Any]:
    kjts = [make_kjt(config, seed).to(device) for seed in range(max(warmup + steps, 1))]
    out: Dict[str, Any] = {"config": asdict(config)}
    for phase, fn in steps_by_phase.items():
        cursor = iter(range(10**9))

        def step() -> None:
            fn(kjts[next(cursor) % len(kjts)])

        t = time_steps(step, device, warmup, steps)
        row_bytes = config.lookups * config.dim * 4 * world_size
        moved = row_bytes * (1 if phase == "forward" else 3)
        out[phase] = {
            **t,
            "samples_per_s": config.batch_size * world_size / t["p50_s"],
            "lookups_per_s": config.lookups * world_size / t["p50_s"],
            "bytes_per_s": moved / t["p50_s"],
        }
    if dist.is_initialized():
        dist.barrier()
    return out
