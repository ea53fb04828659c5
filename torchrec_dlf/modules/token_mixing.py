"""DLF's gamma stream: implicit interaction by mixing tokens."""

import math

import torch
from torch import nn


class TokenMixingBlock(nn.Module):
    """
    Linear mixing along the token axis, ``Z = sigma(W E + b)`` with ``W`` of shape
    n_out x n_in. It is DLF's implicit (gamma) stream: each output token is a learned
    combination of all input tokens, without explicit feature products.

    The paper's figure shows an activation and a bias; the authors' released code uses a
    plain linear map. ``activation=True`` (default) follows the figure (ReLU and a bias
    per output token and dimension); ``activation=False`` is the released code's map.

    Args:
        num_input_tokens (int): n_in.
        num_output_tokens (int): n_out.
        embedding_dim (int): D.
        activation (bool): apply bias and ReLU after the mixing.

    Example::

        block = TokenMixingBlock(num_input_tokens=48, num_output_tokens=16, embedding_dim=16)
        z = block(torch.rand(8, 48, 16))  # 8 x 16 x 16
    """

    def __init__(
        self,
        num_input_tokens: int,
        num_output_tokens: int,
        embedding_dim: int,
        activation: bool = True,
    ) -> None:
        super().__init__()
        self._activation = activation
        self.weight = nn.Parameter(torch.empty(num_output_tokens, num_input_tokens))
        self.bias = nn.Parameter(
            torch.zeros(num_output_tokens, embedding_dim), requires_grad=activation
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        nn.init.zeros_(self.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """
        Args:
            tokens (torch.Tensor): B x n_in x D.

        Returns:
            torch.Tensor: B x n_out x D.
        """
        mixed = torch.matmul(self.weight, tokens)
        if self._activation:
            # The bias in the activations' dtype: a bf16 product stays bf16.
            mixed = torch.relu(mixed + self.bias.to(mixed.dtype))
        return mixed
