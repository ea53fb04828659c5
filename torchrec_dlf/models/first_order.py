"""A first-order (logistic regression) model with DLRM's interface, as the floor to beat."""

from typing import Optional

import torch
from torch import nn
from torchrec.models.dlrm import DLRM
from torchrec.modules.embedding_modules import EmbeddingBagCollection


class FirstOrderInteractionArch(nn.Module):
    """
    Concatenates the raw dense features and the flattened sparse embeddings, without any
    interaction between features.

    Args:
        num_sparse_features (int): F.

    Example::

        arch = FirstOrderInteractionArch(num_sparse_features=26)
        out = arch(dense_features=torch.rand(8, 13), sparse_features=torch.rand(8, 26, 4))
        # 8 x (13 + 26 * 4)
    """

    def __init__(self, num_sparse_features: int) -> None:
        super().__init__()
        self.F: int = num_sparse_features

    def forward(
        self, dense_features: torch.Tensor, sparse_features: torch.Tensor
    ) -> torch.Tensor:
        """
        Args:
            dense_features (torch.Tensor): B x N.
            sparse_features (torch.Tensor): B x F x D.

        Returns:
            torch.Tensor: B x (N + F * D).
        """
        return torch.cat((dense_features, sparse_features.flatten(start_dim=1)), dim=1)


class DLRM_FirstOrder(DLRM):
    """
    Logistic regression in DLRM form: ``logit = b + v . x + sum_f a_f . e_f(id_f)``, i.e.
    an additive function of each feature (a weight per id, and per numeric field) with no
    feature interaction. The sparse arch is the usual EBC (so it shards and trains with
    the same fused kernels); the over arch is a single linear layer.

    Args:
        embedding_bag_collection (EmbeddingBagCollection): the sparse features' tables.
        dense_in_features (int): numeric features N (used raw: no dense MLP).
        dense_device (Optional[torch.device]): default compute device.

    Example::

        model = DLRM_FirstOrder(ebc, dense_in_features=13)
        logits = model(dense_features=torch.rand(B, 13), sparse_features=kjt)  # B x 1
    """

    def __init__(
        self,
        embedding_bag_collection: EmbeddingBagCollection,
        dense_in_features: int,
        dense_device: Optional[torch.device] = None,
    ) -> None:
        embedding_dim: int = embedding_bag_collection.embedding_bag_configs()[
            0
        ].embedding_dim
        super().__init__(
            embedding_bag_collection,
            dense_in_features,
            [embedding_dim],
            [1, 1],
            dense_device,
        )
        num_sparse_features: int = len(self.sparse_arch.sparse_feature_names)
        self.dense_arch = nn.Identity()
        # pyrefly: ignore[bad-assignment]
        self.inter_arch = FirstOrderInteractionArch(num_sparse_features)
        self.over_arch = nn.Linear(
            dense_in_features + num_sparse_features * embedding_dim,
            1,
            device=dense_device,
        )
