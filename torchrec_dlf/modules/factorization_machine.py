"""The second-order term of a factorization machine over field embeddings."""

import torch
from torch import nn


class FieldFactorizationMachine(nn.Module):
    """
    Sum of the inner products of every pair of field embeddings (Rendle 2010; DeepFM's
    FM part, FuxiCTR's ``InnerProductInteraction(output="product_sum")``):

        FM(E) = sum_{i<j} <e_i, e_j> = 1/2 * sum_d [ (sum_i e_id)^2 - sum_i e_id^2 ]

    in O(n D). TorchRec's `torchrec.modules.deepfm.FactorizationMachine` flattens its
    input first, so it sums the products of all pairs of scalars (dimensions crossed
    with each other) rather than of field pairs; this module keeps the field axis.

    Example::

        fm = FieldFactorizationMachine()
        out = fm(torch.rand(8, 10, 16))  # 8 x 1
    """

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """
        Args:
            tokens (torch.Tensor): B x n x D field embeddings.

        Returns:
            torch.Tensor: B x 1.
        """
        square_of_sum = tokens.sum(dim=1).square()
        sum_of_square = tokens.square().sum(dim=1)
        return 0.5 * (square_of_sum - sum_of_square).sum(dim=1, keepdim=True)
