"""Wrapping a model with DistributedModelParallel the way this project needs it."""

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torchrec.distributed import DistributedModelParallel
from torchrec.distributed.model_parallel import DefaultDataParallelWrapper
from torchrec.distributed.types import ShardingPlan


def shard_model(
    model: nn.Module, plan: ShardingPlan, device: torch.device
) -> DistributedModelParallel:
    """
    DistributedModelParallel with the dense part's buffers synchronised from rank 0
    before every forward, as plain DDP does by default. TorchRec turns that off; our
    models keep BatchNorm running statistics (DLF's block MLPs), which would otherwise
    drift apart per rank, so evaluation would depend on the rank and a checkpoint (one
    copy of each replicated tensor) could not restore every rank exactly.
    """
    return DistributedModelParallel(
        module=model,
        device=device,
        plan=plan,
        data_parallel_wrapper=DefaultDataParallelWrapper(
            ddp_kwargs={"forward_sync_buffers": True}
        ),
    )


def broadcast_replicated_buffers(model: nn.Module, src: int = 0) -> None:
    """
    Copies rank ``src``'s buffers of every data-parallel (DDP-wrapped) module to all
    ranks: what the next forward would do anyway, done now so a checkpoint or a
    snapshot records exactly the state every rank will use.
    """
    if (
        not (dist.is_available() and dist.is_initialized())
        or dist.get_world_size() == 1
    ):
        return
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, DistributedDataParallel):
                for buffer in module.module.buffers():
                    dist.broadcast(buffer, src=src)
