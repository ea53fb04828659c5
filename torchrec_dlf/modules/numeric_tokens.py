"""Dense archs that turn numeric features into interaction tokens."""

import torch
from torch import nn


class NumericFieldEmbeddingArch(nn.Module):
    """
    Embeds each numeric field as its own token (BARS/FuxiCTR style): field i with value
    x_i becomes ``x_i * w_i + b_i``, i.e. one ``Linear(1, D)`` per field, computed for all
    fields at once. Replaces DLRM's single dense token when numeric fields should
    interact individually.

    Args:
        num_fields (int): N, numeric fields.
        embedding_dim (int): D.

    Example::

        arch = NumericFieldEmbeddingArch(num_fields=13, embedding_dim=16)
        tokens = arch(torch.rand(8, 13))  # 8 x (13 * 16)
    """

    def __init__(self, num_fields: int, embedding_dim: int) -> None:
        super().__init__()
        self._num_fields = num_fields
        self._embedding_dim = embedding_dim
        self.weight = nn.Parameter(torch.empty(num_fields, embedding_dim))
        self.bias = nn.Parameter(torch.zeros(num_fields, embedding_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Same scale as nn.Linear(1, D): fan_in is 1.
        nn.init.uniform_(self.weight, -1.0, 1.0)
        nn.init.uniform_(self.bias, -1.0, 1.0)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """
        Args:
            features (torch.Tensor): B x N.

        Returns:
            torch.Tensor: B x (N * D), field-major.
        """
        tokens = features.unsqueeze(-1) * self.weight + self.bias
        return tokens.reshape(-1, self._num_fields * self._embedding_dim)


class EmptyDenseArch(nn.Module):
    """
    Dense arch for datasets without numeric fields: produces no dense token.

    Example::

        empty = EmptyDenseArch()(torch.rand(8, 0))  # 8 x 0
    """

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """
        Args:
            features (torch.Tensor): B x 0 (or any B x N, ignored).

        Returns:
            torch.Tensor: B x 0.
        """
        return features[:, :0]


def single_dense_token(model: nn.Module, dense_in_features: int) -> int:
    """
    Dense tokens of a DLRM-style model whose dense arch makes one token: 1, or 0 for a
    dataset without numeric fields, in which case ``model.dense_arch`` becomes an
    `EmptyDenseArch` (TorchRec's DenseArch cannot take 0 inputs).
    """
    if dense_in_features > 0:
        return 1
    model.dense_arch = EmptyDenseArch()
    return 0
