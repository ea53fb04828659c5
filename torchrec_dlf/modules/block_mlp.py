"""The small MLP that closes each DLF interaction block."""

import torch
from torch import nn

# Normalisation of the block MLPs' hidden layer: LayerNorm (per sample, no running
# statistics; the default) or BatchNorm (the authors' released code).
BLOCK_NORMS = ("layer", "batch")


class BlockMLP(nn.Module):
    """
    One-hidden-layer MLP used inside the DLF interaction blocks:
    ``Linear -> Norm -> ReLU -> Dropout -> Linear``.

    ``norm="layer"`` (default) normalises each sample's hidden layer on its own, so the
    block is independent of the batch it sits in: a batch of one trains, evaluation
    needs no running statistics, and nothing has to be synchronised across ranks (a
    host pipeline such as TorchRec's DMP does not broadcast buffers). ``norm="batch"``
    is the released code's BatchNorm1d: it needs more than one sample per rank in
    training, and its running statistics are buffers that each rank updates on its own
    data unless the pipeline broadcasts them.

    The output layer has no activation: the block output is added to the residual
    and normalised by the layer's LayerNorm, as in the authors' released code.

    Args:
        in_features (int): width of the flattened block input.
        hidden_features (int): hidden width h.
        out_features (int): output width (tokens * embedding dim).
        dropout (float): dropout after the hidden activation.
        norm (str): "layer" or "batch".

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
        norm: str = "layer",
    ) -> None:
        super().__init__()
        if norm not in BLOCK_NORMS:
            raise ValueError(f"norm must be one of {BLOCK_NORMS}, got {norm!r}")
        self.model: nn.Sequential = nn.Sequential(
            nn.Linear(in_features, hidden_features),
            nn.LayerNorm(hidden_features)
            if norm == "layer"
            else nn.BatchNorm1d(hidden_features),
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
