"""DeepFM (Guo et al., IJCAI 2017) in DLRM form, as BARS runs it."""

from typing import List, Optional

import torch
from torch import nn
from torchrec.models.dlrm import DLRM
from torchrec.modules.deepfm import DeepFM
from torchrec.modules.embedding_modules import EmbeddingBagCollection

from torchrec_dlf.modules.deep_mlp import DeepMLP
from torchrec_dlf.modules.factorization_machine import FieldFactorizationMachine
from torchrec_dlf.modules.numeric_tokens import single_dense_token
from torchrec_dlf.modules.over_arch import build_over_arch, placeholder_over_arch_sizes


class DeepFMInteractionArch(nn.Module):
    """
    DeepFM's three parts over the tokens E = [dense tokens; sparse features] (B x n x D),
    side by side:

    * first order: the flattened tokens themselves (B x n*D), so a linear head over them
      is a weight per id (FuxiCTR keeps separate 1-wide tables for it; here the head's
      weights over the shared embeddings play that role);
    * FM: the sum of the inner products of all field pairs (`FieldFactorizationMachine`,
      B x 1);
    * deep: TorchRec's `DeepFM` module with a `DeepMLP` over the flattened tokens
      (B x layer_sizes[-1]).

    A linear head over the concatenation (``over_arch_layer_sizes=[1]``) is DeepFM's
    ``y = LR + FM + DNN`` with learned weights on each part.

    Args:
        num_sparse_features (int): F.
        embedding_dim (int): D.
        num_dense_tokens (int): 1, or 0 without numeric fields.
        mlp_layer_sizes (List[int]): deep MLP widths.
        dropout (float): deep MLP dropout.

    Example::

        arch = DeepFMInteractionArch(num_sparse_features=10, embedding_dim=16)
        out = arch(dense_features=torch.rand(8, 16), sparse_features=torch.rand(8, 10, 16))
        # 8 x (11 * 16 + 1 + 400)
    """

    def __init__(
        self,
        num_sparse_features: int,
        embedding_dim: int,
        num_dense_tokens: int = 1,
        mlp_layer_sizes: Optional[List[int]] = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        sizes = list(mlp_layer_sizes or [400, 400, 400])
        self.F: int = num_sparse_features
        self._num_dense_tokens = num_dense_tokens
        self._embedding_dim = embedding_dim
        in_features = (num_dense_tokens + num_sparse_features) * embedding_dim
        self.deep = DeepFM(dense_module=DeepMLP(in_features, sizes, dropout))
        self.fm = FieldFactorizationMachine()
        self.output_dim: int = in_features + 1 + sizes[-1]

    def forward(
        self, dense_features: torch.Tensor, sparse_features: torch.Tensor
    ) -> torch.Tensor:
        """
        Args:
            dense_features (torch.Tensor): B x (num_dense_tokens * D).
            sparse_features (torch.Tensor): B x F x D.

        Returns:
            torch.Tensor: B x (n * D + 1 + mlp_layer_sizes[-1]).
        """
        tokens = sparse_features
        if self._num_dense_tokens > 0:
            dense_tokens = dense_features.reshape(
                -1, self._num_dense_tokens, self._embedding_dim
            )
            tokens = torch.cat((dense_tokens, sparse_features), dim=1)
        return torch.cat(
            (tokens.flatten(start_dim=1), self.fm(tokens), self.deep([tokens])), dim=1
        )


class DLRM_DeepFM(DLRM):
    """
    DLRM with DeepFM as its interaction (`DeepFMInteractionArch`), built the way
    TorchRec's `DLRM_DCN` is: same sparse and dense archs; the over arch reads the first
    order, FM and deep outputs (``over_arch_layer_sizes=[1]``: BARS's linear sum of them).

    Args:
        embedding_bag_collection (EmbeddingBagCollection): the tables.
        dense_in_features (int): numeric fields (0: no dense token).
        dense_arch_layer_sizes (List[int]): DenseArch sizes, ending with D.
        over_arch_layer_sizes (List[int]): OverArch sizes, ending with 1 ([1]: linear).
        deepfm_mlp_layer_sizes (List[int]): deep MLP widths.
        deepfm_dropout (float): deep MLP dropout.
        dense_device (Optional[torch.device]): default compute device.

    Example::

        model = DLRM_DeepFM(ebc, dense_in_features=0, dense_arch_layer_sizes=[16],
                            over_arch_layer_sizes=[1])
        logits = model(dense_features=torch.rand(B, 0), sparse_features=kjt)  # B x 1
    """

    def __init__(
        self,
        embedding_bag_collection: EmbeddingBagCollection,
        dense_in_features: int,
        dense_arch_layer_sizes: List[int],
        over_arch_layer_sizes: List[int],
        deepfm_mlp_layer_sizes: Optional[List[int]] = None,
        deepfm_dropout: float = 0.0,
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
        self.inter_arch = DeepFMInteractionArch(
            len(self.sparse_arch.sparse_feature_names),
            embedding_dim,
            num_dense_tokens,
            deepfm_mlp_layer_sizes,
            deepfm_dropout,
        ).to(dense_device)
        self.over_arch = build_over_arch(
            self.inter_arch.output_dim, over_arch_layer_sizes, dense_device, xavier=True
        )
