"""The deep tower of the BARS/FuxiCTR baselines (DCNv2's parallel DNN, DeepFM's DNN)."""

from typing import List

import torch
from torch import nn


class DeepMLP(nn.Module):
    """
    ``Linear -> BatchNorm1d -> ReLU -> Dropout`` per layer, Linear weights initialised
    xavier-normal with zero biases as FuxiCTR does (B x in -> B x layer_sizes[-1]).

    Args:
        in_features (int): input width.
        layer_sizes (List[int]): hidden widths.
        dropout (float): dropout after each activation.

    Example::

        mlp = DeepMLP(160, [400, 400, 400], dropout=0.2)
        out = mlp(torch.rand(8, 160))  # 8 x 400
    """

    def __init__(
        self, in_features: int, layer_sizes: List[int], dropout: float = 0.0
    ) -> None:
        super().__init__()
        layers: List[nn.Module] = []
        for size in layer_sizes:
            layers += [
                nn.Linear(in_features, size),
                nn.BatchNorm1d(size),
                nn.ReLU(),
                nn.Dropout(dropout),
            ]
            in_features = size
        self.model = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.model:
            if isinstance(module, nn.Linear):
                nn.init.xavier_normal_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """
        Args:
            features (torch.Tensor): B x in_features.

        Returns:
            torch.Tensor: B x layer_sizes[-1].
        """
        return self.model(features)
