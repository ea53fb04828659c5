"""The residual path of a DLF layer, with an optional learned per-token gate."""

import math

import torch
from torch import nn


class GatedResidual(nn.Module):
    """
    Residual path of a DLF layer: ``r = P(E)``, a learned token-axis projection when the
    token count changes (identity otherwise), scaled by a per-token gate
    ``g = sigmoid(r w + b)`` so the layer can suppress a residual that repeats what the
    interaction streams already carry. ``gate=False`` gives the plain residual of the
    authors' released code.

    Args:
        num_input_tokens (int): n_in.
        num_output_tokens (int): n_out.
        embedding_dim (int): D.
        gate (bool): learn the per-token gate.

    Example::

        residual = GatedResidual(num_input_tokens=10, num_output_tokens=48, embedding_dim=16)
        r = residual(torch.rand(8, 10, 16))  # 8 x 48 x 16
    """

    def __init__(
        self,
        num_input_tokens: int,
        num_output_tokens: int,
        embedding_dim: int,
        gate: bool = True,
    ) -> None:
        super().__init__()
        self._project = num_input_tokens != num_output_tokens
        self._gate = gate
        if self._project:
            self.projection = nn.Parameter(
                torch.empty(num_output_tokens, num_input_tokens)
            )
        else:
            # Identity residual: an empty placeholder keeps the attribute scriptable.
            self.register_buffer("projection", torch.empty(0), persistent=False)
        self.gate = nn.Linear(embedding_dim, 1) if gate else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self._project:
            nn.init.kaiming_uniform_(self.projection, a=math.sqrt(5))
        if isinstance(self.gate, nn.Linear):
            nn.init.zeros_(self.gate.weight)
            # Start half open: sigmoid(0) = 0.5 lets both paths train from step one.
            nn.init.zeros_(self.gate.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """
        Args:
            tokens (torch.Tensor): B x n_in x D.

        Returns:
            torch.Tensor: B x n_out x D, the (gated) residual.
        """
        residual = tokens
        if self._project:
            residual = torch.matmul(self.projection, tokens)
        if self._gate:
            residual = residual * torch.sigmoid(self.gate(residual))
        return residual
