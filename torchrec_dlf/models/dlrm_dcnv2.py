"""DCNv2 in its parallel form (cross network beside a deep MLP), as BARS runs it."""

from typing import List, Optional

import torch
from torch import nn
from torchrec.models.dlrm import DLRM
from torchrec.modules.crossnet import CrossNet
from torchrec.modules.embedding_modules import EmbeddingBagCollection

from torchrec_dlf.modules.deep_mlp import DeepMLP
from torchrec_dlf.modules.numeric_tokens import single_dense_token
from torchrec_dlf.modules.over_arch import build_over_arch, placeholder_over_arch_sizes


class ParallelDCNInteractionArch(nn.Module):
    """
    DCNv2's parallel structure (Wang et al., WWW 2021): the flattened tokens x0 =
    [dense tokens; sparse features] go through a full-rank cross network (TorchRec's
    `CrossNet`) and, side by side, a deep MLP; the two outputs are concatenated.

    Args:
        num_sparse_features (int): F.
        embedding_dim (int): D.
        num_dense_tokens (int): 1, or 0 without numeric fields.
        cross_layers (int): cross layers.
        mlp_layer_sizes (List[int]): deep MLP widths.
        dropout (float): deep MLP dropout.

    Example::

        arch = ParallelDCNInteractionArch(num_sparse_features=26, embedding_dim=16)
        out = arch(dense_features=torch.rand(8, 16), sparse_features=torch.rand(8, 26, 16))
    """

    def __init__(
        self,
        num_sparse_features: int,
        embedding_dim: int,
        num_dense_tokens: int = 1,
        cross_layers: int = 3,
        mlp_layer_sizes: Optional[List[int]] = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        sizes = list(mlp_layer_sizes or [400, 400, 400])
        self.F: int = num_sparse_features
        self._num_dense_tokens = num_dense_tokens
        self._in_features = (num_dense_tokens + num_sparse_features) * embedding_dim
        self.crossnet = CrossNet(in_features=self._in_features, num_layers=cross_layers)
        self.deep = DeepMLP(self._in_features, sizes, dropout)
        self.output_dim: int = self._in_features + sizes[-1]

    def forward(
        self, dense_features: torch.Tensor, sparse_features: torch.Tensor
    ) -> torch.Tensor:
        """
        Args:
            dense_features (torch.Tensor): B x (num_dense_tokens * D).
            sparse_features (torch.Tensor): B x F x D.

        Returns:
            torch.Tensor: B x (in_features + mlp_layer_sizes[-1]).
        """
        flat = sparse_features.flatten(start_dim=1)
        if self._num_dense_tokens > 0:
            flat = torch.cat((dense_features, flat), dim=1)
        return torch.cat((self.crossnet(flat), self.deep(flat)), dim=1)


class DLRM_DCNv2(DLRM):
    """
    DLRM with the parallel DCNv2 interaction (`ParallelDCNInteractionArch`), built the way
    TorchRec's `DLRM_DCN` is; its over arch reads the concatenated cross and deep outputs.
    ``over_arch_layer_sizes=[1]`` gives BARS's linear head (``fc`` in FuxiCTR's DCNv2).

    Args:
        embedding_bag_collection (EmbeddingBagCollection): the tables.
        dense_in_features (int): numeric fields (0: no dense token).
        dense_arch_layer_sizes (List[int]): DenseArch sizes, ending with D.
        over_arch_layer_sizes (List[int]): OverArch sizes, ending with 1 ([1]: linear).
        dcnv2_cross_layers (int): cross layers.
        dcnv2_mlp_layer_sizes (List[int]): deep MLP widths.
        dcnv2_dropout (float): deep MLP dropout.
        dense_device (Optional[torch.device]): default compute device.
    """

    def __init__(
        self,
        embedding_bag_collection: EmbeddingBagCollection,
        dense_in_features: int,
        dense_arch_layer_sizes: List[int],
        over_arch_layer_sizes: List[int],
        dcnv2_cross_layers: int = 3,
        dcnv2_mlp_layer_sizes: Optional[List[int]] = None,
        dcnv2_dropout: float = 0.0,
        dense_device: Optional[torch.device] = None,
    ) -> None:
        super().__init__(
            embedding_bag_collection,
            dense_in_features,
            dense_arch_layer_sizes,
            placeholder_over_arch_sizes(over_arch_layer_sizes),
            dense_device,
        )
        embedding_dim: int = embedding_bag_collection.embedding_bag_configs()[
            0
        ].embedding_dim
        num_dense_tokens = single_dense_token(self, dense_in_features)
        # pyrefly: ignore[bad-assignment]
        self.inter_arch = ParallelDCNInteractionArch(
            len(self.sparse_arch.sparse_feature_names),
            embedding_dim,
            num_dense_tokens,
            dcnv2_cross_layers,
            dcnv2_mlp_layer_sizes,
            dcnv2_dropout,
        ).to(dense_device)
        self.over_arch = build_over_arch(
            self.inter_arch.output_dim, over_arch_layer_sizes, dense_device, xavier=True
        )
