"""Sharding plans for the embedding tables."""

from typing import Dict, List, Optional

import torch
import torch.distributed as dist
from torch import nn
from torchrec.distributed.planner import EmbeddingShardingPlanner
from torchrec.distributed.planner.types import (
    KernelConfig,
    ParameterConstraints,
    TopologyFactory,
    TrainerConfig,
)
from torchrec.distributed.sharding_plan import (
    ParameterShardingGenerator,
    column_wise,
    construct_module_sharding_plan,
    data_parallel,
    get_default_sharders,
    row_wise,
    table_row_wise,
    table_wise,
)
from torchrec.distributed.types import ShardingPlan, ShardingType
from torchrec.modules.embedding_configs import EmbeddingBagConfig
from torchrec.modules.embedding_modules import EmbeddingBagCollection

from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.user_errors import ConfigError

# Sharding types whose tables train with FBGEMM's fused kernels and in-backward
# optimizer. data_parallel replicates a table with dense gradients instead.
FUSED_SHARDING_TYPES: List[str] = [
    ShardingType.TABLE_WISE.value,
    ShardingType.COLUMN_WISE.value,
    ShardingType.TABLE_COLUMN_WISE.value,
    ShardingType.ROW_WISE.value,
    ShardingType.TABLE_ROW_WISE.value,
]


def plan_sharding(
    model: nn.Module,
    ctx: DistributedContext,
    batch_size: int,
    constraints: Optional[Dict[str, ParameterConstraints]] = None,
    pg: Optional[dist.ProcessGroup] = None,
) -> ShardingPlan:
    """TorchRec's planner over this job's topology, planned on rank 0 and broadcast."""
    topology = TopologyFactory.create_topology(
        trainer_config=TrainerConfig(
            world_size=ctx.world_size, local_world_size=ctx.local_world_size
        ),
        kernel_config=KernelConfig(compute_device=ctx.device.type),
    )
    planner = EmbeddingShardingPlanner(
        topology=topology, batch_size=batch_size, constraints=constraints
    )
    return planner.collective_plan(
        model, get_default_sharders(), pg or dist.GroupMember.WORLD
    )


# --sharding choices: the planner, or one sharding type for every table.
SHARDING_CHOICES = (
    "auto",
    ShardingType.TABLE_WISE.value,
    ShardingType.ROW_WISE.value,
    ShardingType.COLUMN_WISE.value,
    ShardingType.TABLE_ROW_WISE.value,
    ShardingType.DATA_PARALLEL.value,
)
# Fused TBE kernels need column shards whose width is a multiple of 4.
_MIN_COLUMN_SHARD = 4


def _balanced_ranks(tables: List[EmbeddingBagConfig], bins: int) -> List[int]:
    """Greedy placement by size: each table (largest first) to the least-loaded bin."""
    load = [0] * bins
    placement = [0] * len(tables)
    order = sorted(range(len(tables)), key=lambda i: -tables[i].num_embeddings)
    for i in order:
        b = min(range(bins), key=lambda k: (load[k], k))
        placement[i] = b
        load[b] += tables[i].num_embeddings * tables[i].embedding_dim
    return placement


def uniform_sharding_generators(
    tables: List[EmbeddingBagConfig], sharding: str, ctx: DistributedContext
) -> Dict[str, ParameterShardingGenerator]:
    """
    Per-table generators that shard every table one way, built by hand (TorchRec's
    planner does not offer row_wise or table_row_wise on CPU):

    * table_wise: whole tables, balanced over ranks by size;
    * row_wise: every table's rows split over all ranks;
    * column_wise: every table's columns split over up to D / 4 ranks (fused kernels
      need shard widths that are multiples of 4), consecutive ranks starting at a
      rotating offset so tables spread evenly;
    * table_row_wise: rows split over the ranks of one host, tables balanced over hosts;
    * data_parallel: every table replicated on every rank.
    """
    world, local = ctx.world_size, ctx.local_world_size
    if sharding == ShardingType.TABLE_WISE.value:
        ranks = _balanced_ranks(tables, world)
        return {t.name: table_wise(rank=r) for t, r in zip(tables, ranks)}
    if sharding == ShardingType.ROW_WISE.value:
        return {t.name: row_wise() for t in tables}
    if sharding == ShardingType.COLUMN_WISE.value:
        out: Dict[str, ParameterShardingGenerator] = {}
        for i, t in enumerate(tables):
            shards = max(1, min(world, t.embedding_dim // _MIN_COLUMN_SHARD))
            while (
                t.embedding_dim % shards
                or (t.embedding_dim // shards) % _MIN_COLUMN_SHARD
            ):
                shards -= 1
            out[t.name] = column_wise(ranks=[(i + k) % world for k in range(shards)])
        return out
    if sharding == ShardingType.TABLE_ROW_WISE.value:
        if world % local:
            raise ConfigError(
                f"world size {world} is not a multiple of the host size {local}"
            )
        hosts = _balanced_ranks(tables, world // local)
        return {t.name: table_row_wise(host_index=h) for t, h in zip(tables, hosts)}
    if sharding == ShardingType.DATA_PARALLEL.value:
        return {t.name: data_parallel() for t in tables}
    raise ValueError(f"unknown sharding {sharding!r}; choose from {SHARDING_CHOICES}")


def replicated_table_names(
    tables: List[EmbeddingBagConfig], sharding: str, data_parallel_max_rows: int = 0
) -> List[str]:
    """
    The tables to shard data_parallel: all of them with ``sharding="data_parallel"``,
    else those with at most ``data_parallel_max_rows`` rows (0: none). Small tables are
    cheap to replicate and are then stepped by a regular optimizer (Adam on any device,
    whole-table L2 in the gradient); the large ones stay sharded with fused kernels.
    """
    if sharding == ShardingType.DATA_PARALLEL.value:
        return [t.name for t in tables]
    if data_parallel_max_rows < 0:
        raise ValueError(
            f"data_parallel_max_rows must be >= 0, got {data_parallel_max_rows}"
        )
    return [t.name for t in tables if t.num_embeddings <= data_parallel_max_rows]


def build_sharding_plan(
    model: nn.Module,
    ebc_path: str,
    ctx: DistributedContext,
    sharding: str,
    batch_size: int,
    planner_sharding_types: Optional[List[str]] = None,
    data_parallel_max_rows: int = 0,
    pooling_factors: Optional[Dict[str, float]] = None,
) -> ShardingPlan:
    """
    The plan for the EmbeddingBagCollection at ``ebc_path`` inside ``model``: tables
    with at most ``data_parallel_max_rows`` rows are replicated (data_parallel); the
    others are sharded by TorchRec's planner (``sharding="auto"``, limited to
    ``planner_sharding_types``, by default the fused types) or all one way
    (`uniform_sharding_generators`). ``pooling_factors`` (table name: mean ids per
    sample, `model_factory.table_pooling_factors`; absent: 1, one-hot) tell the
    planner how much each multi-hot table looks up.
    """
    ebc = model.get_submodule(ebc_path)
    assert isinstance(ebc, EmbeddingBagCollection), type(ebc)
    tables = ebc.embedding_bag_configs()
    replicated = set(replicated_table_names(tables, sharding, data_parallel_max_rows))
    if sharding == "auto":
        allowed = planner_sharding_types or FUSED_SHARDING_TYPES
        factors = pooling_factors or {}
        constraints = {
            t.name: ParameterConstraints(
                sharding_types=[ShardingType.DATA_PARALLEL.value]
                if t.name in replicated
                else list(allowed),
                pooling_factors=[float(factors.get(t.name, 1.0))],
            )
            for t in tables
        }
        return plan_sharding(model, ctx, batch_size, constraints)
    sharded = [t for t in tables if t.name not in replicated]
    generators = uniform_sharding_generators(sharded, sharding, ctx) if sharded else {}
    generators.update({name: data_parallel() for name in replicated})
    module_plan = construct_module_sharding_plan(
        ebc,
        generators,
        local_size=ctx.local_world_size,
        world_size=ctx.world_size,
        device_type=ctx.device.type,
    )
    return ShardingPlan({ebc_path: module_plan})


def format_plan(plan: ShardingPlan) -> str:
    lines = []
    for module_path, module_plan in plan.plan.items():
        lines.append(f"module: {module_path}")
        for table, param_sharding in module_plan.items():  # pyre-ignore[16]
            lines.append(
                f"  {table}: {param_sharding.sharding_type} / "
                f"{param_sharding.compute_kernel} on ranks {param_sharding.ranks}"
            )
    return "\n".join(lines)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"
