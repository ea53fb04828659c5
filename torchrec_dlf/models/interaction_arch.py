"""DLF as a TorchRec interaction arch."""

from typing import Any, Dict, List, Optional

import torch
from torch import nn

from torchrec_dlf.modules.dlf_config import DLFConfig
from torchrec_dlf.modules.dlf_layer import DLFLayer


class DLFInteractionArch(nn.Module):
    """
    Processes the output of `SparseArch` (sparse_features) and the dense arch
    (dense_features) with a stack of `DLFLayer`s and returns the flattened tokens of the
    last layer. Drop-in for TorchRec's `InteractionArch`, `InteractionDCNArch` and
    `InteractionProjectionArch` (same keyword call, B x I output).

    The input tokens E^(1) are the dense tokens followed by the F sparse features:
    n_1 = num_dense_tokens + F. ``num_dense_tokens`` is 1 for DLRM's dense arch (one
    D-wide token), the number of numeric fields when each is embedded separately, and
    0 for datasets without numeric fields (dense_features is then ignored).

    Args:
        num_sparse_features (int): F.
        embedding_dim (int): D.
        num_dense_tokens (int): tokens in ``dense_features`` (its width / D).
        config (Optional[DLFConfig]): the DLF settings (default: `DLFConfig()`).
        **switches: `DLFConfig` fields by name, replacing those of ``config``
            (e.g. ``num_layers=2, fusion="concat"``).

    ``config.scale_output`` divides the flattened output by sqrt(I). The last layer's
    tokens are LayerNorm'd, so the head would otherwise read a vector of norm sqrt(I)
    and its first layer would move by about lr * I per optimizer step (TorchRec's DLRM
    head reads small dot products); with it, DLF stays finite under the large
    plain-SGD learning rates of DLRM recipes (lr 15).

    Example::

        D, B, F = 16, 8, 26
        inter_arch = DLFInteractionArch(num_sparse_features=F, embedding_dim=D)
        out = inter_arch(
            dense_features=torch.rand(B, D), sparse_features=torch.rand(B, F, D)
        )  # B x inter_arch.output_dim  (= 48 * 16)
    """

    def __init__(
        self,
        num_sparse_features: int,
        embedding_dim: int,
        num_dense_tokens: int = 1,
        config: Optional[DLFConfig] = None,
        **switches: Any,
    ) -> None:
        super().__init__()
        c = DLFConfig.with_switches(config, **switches)
        if num_sparse_features + num_dense_tokens < 1:
            raise ValueError("DLFInteractionArch needs at least one input token")
        self.config: DLFConfig = c
        self.F: int = num_sparse_features
        self._embedding_dim = embedding_dim
        self._num_dense_tokens = num_dense_tokens
        self._num_base_tokens: int = num_dense_tokens + num_sparse_features
        layers = []
        num_tokens = self._num_base_tokens
        for _ in range(c.num_layers):
            layer = DLFLayer(num_tokens, self._num_base_tokens, embedding_dim, c)
            num_tokens = layer.num_output_tokens
            layers.append(layer)
        self.layers = nn.ModuleList(layers)
        self._num_output_tokens: int = num_tokens
        # Each output token is LayerNorm'd (unit variance per element), so the flattened
        # output has norm sqrt(I); scaling it to unit norm keeps the head's first layer
        # as sensitive to one optimizer step as it is in DLRM (see `forward`).
        self._output_scale: float = (
            (num_tokens * embedding_dim) ** -0.5 if c.scale_output else 1.0
        )

    @property
    def output_dim(self) -> int:
        """I = n_(L+1) * D, the width of the output."""
        return self._num_output_tokens * self._embedding_dim

    def stream_parameters(self) -> Dict[str, List[nn.Parameter]]:
        """Trainable parameters of each part of every layer (`DLFLayer.stream_modules`
        names), summed over layers; parts without parameters are left out."""
        groups: Dict[str, List[nn.Parameter]] = {}
        for layer in self.layers:
            for part, module in layer.stream_modules().items():
                params = [p for p in module.parameters() if p.requires_grad]
                if params:
                    groups.setdefault(part, []).extend(params)
        return groups

    def forward(
        self, dense_features: torch.Tensor, sparse_features: torch.Tensor
    ) -> torch.Tensor:
        """
        Args:
            dense_features (torch.Tensor): B x (num_dense_tokens * D).
            sparse_features (torch.Tensor): B x F x D.

        Returns:
            torch.Tensor: B x (n_(L+1) * D).
        """
        if self._num_dense_tokens > 0:
            dense_tokens = dense_features.reshape(
                -1, self._num_dense_tokens, self._embedding_dim
            )
            # In the dense arch's dtype (bf16 under autocast): the layers' tokens stay
            # in it instead of being promoted back to the embeddings' fp32.
            base = torch.cat(
                (dense_tokens, sparse_features.to(dense_tokens.dtype)), dim=1
            )
        else:
            base = sparse_features
        tokens = base
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            # The last layer applies the output scale inside its LayerNorm.
            tokens = layer(tokens, base, self._output_scale if i == last else 1.0)
        return tokens.reshape(-1, self._num_output_tokens * self._embedding_dim)
