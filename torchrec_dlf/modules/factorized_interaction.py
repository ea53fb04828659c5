"""The factorised (rank-R) interaction block behind DLF's alpha and beta streams."""

import math

import torch
from torch import nn

from torchrec_dlf.modules.block_mlp import BlockMLP


class FactorizedInteractionBlock(nn.Module):
    """
    Rank-R factorised interaction of two token matrices (Wukong's FM block, with the
    left operand made a separate input so DLF can re-inject the raw embeddings):

        Z = reshape( MLP( LayerNorm( flatten( L . (R^T W) ) ) ), n_out x D )

    with ``L`` of shape n_left x D, ``R`` of shape n_right x D and ``W`` of shape
    n_right x rank. DLF uses it twice per layer:

    * alpha, the low-order block: ``L = E^(1)`` (the layer-1 tokens), ``R = E^(l)``;
    * beta, the high-order block: ``L = R = E^(l)``.

    The cost is linear in the number of tokens (no n x n interaction matrix is formed).

    Args:
        num_left_tokens (int): n_left.
        num_right_tokens (int): n_right.
        embedding_dim (int): D.
        rank (int): R, columns of the projection ``W``.
        num_output_tokens (int): n_out.
        mlp_hidden_features (int): hidden width of the block MLP.
        dropout (float): dropout inside the block MLP.
        block_norm (str): the block MLP's normalisation, "layer" or "batch" (`BlockMLP`).

    Example::

        block = FactorizedInteractionBlock(
            num_left_tokens=10, num_right_tokens=48, embedding_dim=16, rank=24,
            num_output_tokens=16, mlp_hidden_features=512,
        )
        z = block(torch.rand(8, 10, 16), torch.rand(8, 48, 16))  # 8 x 16 x 16
    """

    def __init__(
        self,
        num_left_tokens: int,
        num_right_tokens: int,
        embedding_dim: int,
        rank: int,
        num_output_tokens: int,
        mlp_hidden_features: int,
        dropout: float = 0.0,
        block_norm: str = "layer",
    ) -> None:
        super().__init__()
        self._num_left_tokens = num_left_tokens
        self._num_output_tokens = num_output_tokens
        self._rank = rank
        self._embedding_dim = embedding_dim
        self.projection = nn.Parameter(torch.empty(num_right_tokens, rank))
        self.norm = nn.LayerNorm(num_left_tokens * rank)
        self.mlp = BlockMLP(
            num_left_tokens * rank,
            mlp_hidden_features,
            num_output_tokens * embedding_dim,
            dropout,
            block_norm,
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.projection, a=math.sqrt(5))

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """
        Args:
            left (torch.Tensor): B x n_left x D.
            right (torch.Tensor): B x n_right x D.

        Returns:
            torch.Tensor: B x n_out x D.
        """
        # (R x n_right) @ (B x n_right x D) -> B x R x D, i.e. (R^T W)^T without
        # transposing the (large) token matrix.
        compressed = torch.matmul(self.projection.t(), right)
        return self.interact(left, compressed)

    def interact(self, left: torch.Tensor, compressed: torch.Tensor) -> torch.Tensor:
        """
        The block after its projection, for callers that project several blocks at once.

        Args:
            left (torch.Tensor): B x n_left x D.
            compressed (torch.Tensor): B x R x D, ``W^T R``.

        Returns:
            torch.Tensor: B x n_out x D.
        """
        # (B x n_left x D) @ (B x D x R) -> B x n_left x R
        interactions = torch.bmm(left, compressed.transpose(1, 2))
        flat = interactions.reshape(-1, self._num_left_tokens * self._rank)
        out = self.mlp(self.norm(flat))
        return out.reshape(-1, self._num_output_tokens, self._embedding_dim)
