"""The head on top of an interaction arch: TorchRec's OverArch, or one linear layer."""

from typing import List, Optional

import torch
from torch import nn
from torchrec.models.dlrm import OverArch


def build_over_arch(
    in_features: int,
    layer_sizes: List[int],
    device: Optional[torch.device] = None,
    xavier: bool = False,
) -> nn.Module:
    """
    TorchRec's `OverArch` (an MLP ending in one logit) for two or more layer sizes; for
    ``layer_sizes == [1]`` a single ``Linear(in_features, 1)``, the linear head the
    BARS/FuxiCTR models put on their interaction output (TorchRec's OverArch needs a
    hidden layer). ``xavier``: initialise the linear head xavier-normal with a zero
    bias, as FuxiCTR does.

    Example::

        head = build_over_arch(416, [1])           # B x 416 -> B x 1
        head = build_over_arch(416, [512, 256, 1])  # TorchRec's OverArch
    """
    if not layer_sizes or layer_sizes[-1] != 1:
        raise ValueError(f"over arch layer sizes must end with 1, got {layer_sizes}")
    if len(layer_sizes) > 1:
        return OverArch(in_features=in_features, layer_sizes=layer_sizes, device=device)
    head = nn.Linear(in_features, 1, device=device)
    if xavier:
        nn.init.xavier_normal_(head.weight)
        nn.init.zeros_(head.bias)
    return head


def placeholder_over_arch_sizes(layer_sizes: List[int]) -> List[int]:
    """
    Layer sizes `DLRM.__init__` accepts (its OverArch needs a hidden layer) for a model
    that replaces the over arch with `build_over_arch` right after: ``[1]`` becomes a
    throwaway ``[1, 1]``.
    """
    return list(layer_sizes) if len(layer_sizes) > 1 else [1, 1]
