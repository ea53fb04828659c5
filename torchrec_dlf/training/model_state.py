"""In-memory copies of a (sharded) model's weights, for keeping the best model so far."""

from typing import Dict, List, Union

import torch
from torch import nn
from torch.distributed._shard.sharded_tensor import ShardedTensor

from torchrec_dlf.training.parallel import broadcast_replicated_buffers

_Local = Union[torch.Tensor, List[torch.Tensor]]


def _local_tensors(value: object) -> List[torch.Tensor]:
    if isinstance(value, ShardedTensor):
        return [shard.tensor for shard in value.local_shards()]
    if hasattr(value, "to_local"):  # DTensor
        return [value.to_local()]  # pyre-ignore[16]
    assert isinstance(value, torch.Tensor), type(value)
    return [value]


def snapshot_state(model: nn.Module) -> Dict[str, List[torch.Tensor]]:
    """Clones this rank's part of every parameter and buffer (sharded tables included)."""
    broadcast_replicated_buffers(model)
    with torch.no_grad():
        return {
            key: [t.detach().clone() for t in _local_tensors(value)]
            for key, value in model.state_dict().items()
        }


def restore_state(model: nn.Module, snapshot: Dict[str, List[torch.Tensor]]) -> None:
    """Copies a `snapshot_state` back into the model's own storage, in place."""
    with torch.no_grad():
        for key, value in model.state_dict().items():
            for target, saved in zip(_local_tensors(value), snapshot[key]):
                target.copy_(saved)


def load_full_state_dict(model: nn.Module, full_state: Dict[str, torch.Tensor]) -> None:
    """
    Copies unsharded (global) tensors into a sharded model: each rank takes the slice of
    every table that its local shards cover (row and column offsets from the shard
    metadata), and the whole tensor for replicated parameters and buffers. Keys are those
    of the unsharded module's ``state_dict()``.
    """
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if key not in full_state:
                raise KeyError(f"{key} is missing from the full state dict")
            source = full_state[key]
            if isinstance(value, ShardedTensor):
                for shard in value.local_shards():
                    rows, cols = shard.metadata.shard_offsets
                    n, m = shard.tensor.shape
                    shard.tensor.copy_(source[rows : rows + n, cols : cols + m])
            else:
                for target in _local_tensors(value):
                    target.copy_(source)
