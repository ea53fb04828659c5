"""One DLF layer: RLI (Residual-Aware Low-Order Interaction: the low-order, high-order
and implicit streams plus a gated residual) followed by NAF fusion."""

from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from torchrec_dlf.modules.dlf_config import DLFConfig
from torchrec_dlf.modules.factorized_interaction import FactorizedInteractionBlock
from torchrec_dlf.modules.gated_residual import GatedResidual
from torchrec_dlf.modules.naf import build_fusion
from torchrec_dlf.modules.token_mixing import TokenMixingBlock


class DLFLayer(nn.Module):
    """
    One layer of DLF (Wang et al., SIGIR 2025). From E^(l) (B x n_l x D) and the layer-1
    tokens E^(1) (B x n_1 x D) it computes

    * ``low_order`` (alpha): factorised interaction of E^(1) with E^(l), re-injecting the
      raw embeddings at every depth (``low_order=False`` removes it);
    * ``high_order`` (beta): factorised interaction of E^(l) with itself;
    * ``implicit`` (gamma): token mixing of E^(l);
    * ``fusion``: NAF attention over the streams (``fusion="attention"``) or plain
      concatenation (``fusion="concat"``);
    * ``residual``: gated (or plain) residual of E^(l), projected to n_(l+1) tokens;

    and returns ``E^(l+1) = LayerNorm_D(s * fused + residual)`` with
    n_(l+1) = (3 or 2 streams) * tokens_per_block.

    ``s`` is a learned scalar initialised at 0 (ReZero, Bachlechner et al. 2021): every
    layer starts as the normalised residual of its input, and the streams enter only as
    fast as ``s`` is learned. Without it (``branch_scale=False``, the released code's
    plain sum) the streams' early updates under Adam add a sample-independent offset to
    every token (the block MLPs' output layers read non-negative ReLU activations, so an
    Adam step moves all samples together by about lr * width * mean activation); the
    LayerNorm then shrinks the sample-dependent part of the tokens, the head's ReLUs all
    switch off and the model outputs a constant (measured on a pure pairwise-interaction
    task: about 1 seed in 3 at Adam 3e-3, with either fusion).

    The streams' parameters keep the names ``low_order``, ``high_order``, ``implicit``,
    ``fusion`` and ``residual`` (checkpoints and gradient tracking read them); the
    layer itself computes the alpha and beta projections of E^(l) as one product.

    Args:
        num_input_tokens (int): n_l.
        num_base_tokens (int): n_1.
        embedding_dim (int): D.
        config (Optional[DLFConfig]): the DLF settings (default: `DLFConfig()`);
            ``num_layers`` and ``scale_output`` are the arch's.
        **switches: `DLFConfig` fields by name, replacing those of ``config``
            (e.g. ``rank=8, fusion="concat"``).

    Example::

        layer = DLFLayer(num_input_tokens=10, num_base_tokens=10, embedding_dim=16)
        e1 = torch.rand(8, 10, 16)
        e2 = layer(e1, e1)  # 8 x 48 x 16
    """

    low_order_enabled: torch.jit.Final[bool]
    branch_scale_enabled: torch.jit.Final[bool]

    def __init__(
        self,
        num_input_tokens: int,
        num_base_tokens: int,
        embedding_dim: int,
        config: Optional[DLFConfig] = None,
        **switches: Any,
    ) -> None:
        super().__init__()
        c = DLFConfig.with_switches(config, **switches)
        self.low_order_enabled = c.low_order
        self._rank = c.rank
        num_streams = 3 if c.low_order else 2
        self.num_output_tokens: int = num_streams * c.tokens_per_block
        # Construction order fixes the initialisation drawn from the global RNG.
        if c.low_order:
            self.low_order = self._factorized(
                num_base_tokens, num_input_tokens, embedding_dim, c
            )
        self.high_order = self._factorized(
            num_input_tokens, num_input_tokens, embedding_dim, c
        )
        self.implicit = TokenMixingBlock(
            num_input_tokens, c.tokens_per_block, embedding_dim, c.implicit_activation
        )
        self.fusion: nn.Module = build_fusion(
            [c.tokens_per_block] * num_streams, embedding_dim, c
        )
        self.residual = GatedResidual(
            num_input_tokens, self.num_output_tokens, embedding_dim, c.gate
        )
        self.norm = nn.LayerNorm(embedding_dim)
        self._norm_shape: List[int] = [embedding_dim]
        self.branch_scale_enabled = c.branch_scale
        # Zero-initialised: the layer starts as LayerNorm(residual).
        self.branch_scale = nn.Parameter(torch.zeros(1), requires_grad=c.branch_scale)

    @staticmethod
    def _factorized(
        num_left: int, num_right: int, embedding_dim: int, c: DLFConfig
    ) -> FactorizedInteractionBlock:
        return FactorizedInteractionBlock(
            num_left,
            num_right,
            embedding_dim,
            c.rank,
            c.tokens_per_block,
            c.block_mlp_width,
            c.dropout,
            c.block_norm,
        )

    def stream_modules(self) -> Dict[str, nn.Module]:
        """The modules of each part of the layer, by the paper's names: ``alpha``
        (low-order, absent without it), ``beta`` (high-order), ``gamma`` (implicit),
        ``fusion`` and ``residual`` (what gradient-norm tracking groups by)."""
        parts: Dict[str, nn.Module] = {}
        if self.low_order_enabled:
            parts["alpha"] = self.low_order
        parts["beta"] = self.high_order
        parts["gamma"] = self.implicit
        parts["fusion"] = self.fusion
        parts["residual"] = self.residual
        return parts

    def forward(
        self, tokens: torch.Tensor, base_tokens: torch.Tensor, output_scale: float = 1.0
    ) -> torch.Tensor:
        """
        Args:
            tokens (torch.Tensor): E^(l), B x n_l x D.
            base_tokens (torch.Tensor): E^(1), B x n_1 x D.
            output_scale (float): multiplies the output (the arch's output scaling,
                applied by the last layer's LayerNorm).

        Returns:
            torch.Tensor: output_scale * E^(l+1), B x n_(l+1) x D.
        """
        streams: List[torch.Tensor] = []
        if self.low_order_enabled:
            # alpha and beta project the same E^(l): one matrix product for both.
            rank = self._rank
            projection = torch.cat(
                (self.low_order.projection, self.high_order.projection), dim=1
            )
            compressed = torch.matmul(projection.t(), tokens)  # B x 2R x D
            streams.append(self.low_order.interact(base_tokens, compressed[:, :rank]))
            streams.append(self.high_order.interact(tokens, compressed[:, rank:]))
        else:
            streams.append(self.high_order(tokens, tokens))
        streams.append(self.implicit(tokens))
        fused = self.fusion(streams)
        if self.branch_scale_enabled:
            fused = fused * self.branch_scale.to(fused.dtype)
        # The output scale goes through the LayerNorm's affine map (D-wide products):
        # one pass over the tokens, not two.
        return F.layer_norm(
            fused + self.residual(tokens),
            self._norm_shape,
            self.norm.weight * output_scale,
            self.norm.bias * output_scale,
            self.norm.eps,
        )
