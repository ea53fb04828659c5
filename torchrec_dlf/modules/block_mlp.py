"""The small MLP that closes each DLF interaction block."""

import torch
from torch import nn


class BlockMLP(nn.Module):
    """
    One-hidden-layer MLP used inside the DLF interaction blocks:
    ``Linear -> BatchNorm1d -> ReLU -> Dropout -> Linear``.

    The output layer has no activation: the block output is added to the residual
    and normalised by the layer's LayerNorm, as in the authors' released code.

    Args:
        in_features (int): width of the flattened block input.
        hidden_features (int): hidden width h.
        out_features (int): output width (tokens * embedding dim).
        dropout (float): dropout after the hidden activation.

    Example::

        mlp = BlockMLP(in_features=240, hidden_features=512, out_features=256)
        out = mlp(torch.rand(8, 240))  # 8 x 256
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        out_features: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.model: nn.Sequential = nn.Sequential(
            nn.Linear(in_features, hidden_features),
            nn.BatchNorm1d(hidden_features),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_features, out_features),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """
        Args:
            features (torch.Tensor): B x in_features.

        Returns:
            torch.Tensor: B x out_features.
        """
        return self.model(features)
