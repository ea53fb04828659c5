"""DLF as a TorchRec interaction arch."""

from typing import Dict, List

import torch
from torch import nn

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
        num_layers (int): L, stacked DLF layers.
        tokens_per_block (int): tokens produced by each stream per layer.
        rank (int): rank R of the factorised blocks.
        block_mlp_width (int): hidden width of the block MLPs.
        num_heads (int): NAF attention heads (must divide D).
        dropout (float): dropout in block MLPs and attention.
        low_order (bool): keep the alpha (low-order re-injection) stream.
        fusion (str): "attention" (NAF) or "concat".
        gate (bool): gate the residual path.
        implicit_activation (bool): bias + ReLU in the gamma stream.
        block_norm (str): normalisation in the block MLPs: "layer" (default, per sample,
            no buffers) or "batch" (the released code's BatchNorm1d).
        branch_scale (bool): each layer's streams enter through a learned scalar
            initialised at 0 (ReZero; see `DLFLayer`); off: the released code's sum.
        scale_output (bool): divide the flattened output by sqrt(I). The last layer's
            tokens are LayerNorm'd, so the head would otherwise read a vector of norm
            sqrt(I) and its first layer would move by about lr * I per optimizer step
            (TorchRec's DLRM head reads small dot products); with it, DLF stays finite
            under the large plain-SGD learning rates of DLRM recipes (lr 15).

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
        num_layers: int = 3,
        tokens_per_block: int = 16,
        rank: int = 24,
        block_mlp_width: int = 512,
        num_heads: int = 2,
        dropout: float = 0.0,
        low_order: bool = True,
        fusion: str = "attention",
        gate: bool = True,
        implicit_activation: bool = True,
        block_norm: str = "layer",
        branch_scale: bool = True,
        scale_output: bool = True,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if num_sparse_features + num_dense_tokens < 1:
            raise ValueError("DLFInteractionArch needs at least one input token")
        self.F: int = num_sparse_features
        self._embedding_dim = embedding_dim
        self._num_dense_tokens = num_dense_tokens
        self._num_base_tokens: int = num_dense_tokens + num_sparse_features
        layers = []
        num_tokens = self._num_base_tokens
        for _ in range(num_layers):
            layer = DLFLayer(
                num_input_tokens=num_tokens,
                num_base_tokens=self._num_base_tokens,
                embedding_dim=embedding_dim,
                tokens_per_block=tokens_per_block,
                rank=rank,
                block_mlp_width=block_mlp_width,
                num_heads=num_heads,
                dropout=dropout,
                low_order=low_order,
                fusion=fusion,
                gate=gate,
                implicit_activation=implicit_activation,
                block_norm=block_norm,
                branch_scale=branch_scale,
            )
            num_tokens = layer.num_output_tokens
            layers.append(layer)
        self.layers = nn.ModuleList(layers)
        self._num_output_tokens: int = num_tokens
        # Each output token is LayerNorm'd (unit variance per element), so the flattened
        # output has norm sqrt(I); scaling it to unit norm keeps the head's first layer
        # as sensitive to one optimizer step as it is in DLRM (see `forward`).
        self._output_scale: float = (
            (num_tokens * embedding_dim) ** -0.5 if scale_output else 1.0
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
            base = torch.cat((dense_tokens, sparse_features), dim=1)
        else:
            base = sparse_features
        tokens = base
        for layer in self.layers:
            tokens = layer(tokens, base)
        flat = tokens.reshape(-1, self._num_output_tokens * self._embedding_dim)
        return flat * self._output_scale
