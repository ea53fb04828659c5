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
from torchrec.distributed.sharding_plan import get_default_sharders
from torchrec.distributed.types import ShardingPlan, ShardingType
from torchrec.modules.embedding_configs import EmbeddingBagConfig

from torchrec_dlf.training.distributed import DistributedContext

# Sharding types whose tables train with FBGEMM's fused kernels and in-backward
# optimizer. data_parallel replicates a table with dense gradients instead.
FUSED_SHARDING_TYPES: List[str] = [
    ShardingType.TABLE_WISE.value,
    ShardingType.COLUMN_WISE.value,
    ShardingType.TABLE_COLUMN_WISE.value,
    ShardingType.ROW_WISE.value,
    ShardingType.TABLE_ROW_WISE.value,
]


def fused_only_constraints(
    tables: List[EmbeddingBagConfig],
) -> Dict[str, ParameterConstraints]:
    """
    Keeps the planner off data_parallel, which it picks for small tables on few ranks
    (on one rank, for all of them): a replicated table trains with dense whole-table
    gradients, all-reduced every step, and outside the fused optimizer.
    """
    return {
        t.name: ParameterConstraints(sharding_types=list(FUSED_SHARDING_TYPES))
        for t in tables
    }


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
