"""The DLF layer structure of the authors' released research code, as a plain PyTorch
model without TorchRec: the reference point of the model benchmark.

It follows the published structure (per layer: a linear compress block over tokens, an
FM block on E^(l), an FM block on E^(1) after a token projection of E^(1) to n_l tokens,
concatenation, a projected residual and LayerNorm; block MLPs Linear-BatchNorm-ReLU-
Linear; a head MLP with one hidden layer), its defaults, and its way of computing: each
block transposes the token matrix, multiplies and transposes back, and every layer
re-projects E^(1). It is written here for measurement only; our model is
`torchrec_dlf.DLFInteractionArch`.
"""

import math
from typing import List

import torch
from torch import nn


def _mlp(
    in_features: int, hidden: int, out_features: int, batch_norm: bool = True
) -> nn.Sequential:
    layers: List[nn.Module] = [nn.Linear(in_features, hidden)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(hidden))
    layers += [nn.ReLU(), nn.Dropout(0.0), nn.Linear(hidden, out_features)]
    return nn.Sequential(*layers)


class _TokenProjection(nn.Module):
    """(B x n_in x D) -> (B x n_out x D) by transposing, multiplying and transposing back."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.permute(0, 2, 1) @ self.weight).permute(0, 2, 1)


class _FMBlock(nn.Module):
    def __init__(self, n_in: int, n_out: int, dim: int, rank: int, hidden: int) -> None:
        super().__init__()
        self.n_in, self.n_out, self.dim, self.rank = n_in, n_out, dim, rank
        self.weight = nn.Parameter(torch.empty(n_in, rank))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.norm = nn.LayerNorm(n_in * rank)
        self.mlp = _mlp(n_in * rank, hidden, n_out * dim)

    def forward(self, x: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
        projected = x.permute(0, 2, 1) @ self.weight  # B x D x R
        out = torch.bmm(left, projected).view(-1, self.n_in * self.rank)
        return self.mlp(self.norm(out)).view(-1, self.n_out, self.dim)


class ReferenceDLFLayer(nn.Module):
    def __init__(
        self, n_base: int, n_in: int, dim: int, tokens: int, rank: int, hidden: int
    ) -> None:
        super().__init__()
        n_out = 3 * tokens
        self.compress = _TokenProjection(n_in, tokens)
        self.fm = _FMBlock(n_in, tokens, dim, rank, hidden)
        self.fm_x0 = _FMBlock(n_in, tokens, dim, rank, hidden)
        self.norm = nn.LayerNorm(dim)
        self.residual = (
            _TokenProjection(n_in, n_out) if n_in != n_out else nn.Identity()
        )
        self.x0_projection = (
            _TokenProjection(n_base, n_in) if n_base != n_in else nn.Identity()
        )

    def forward(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        x0 = self.x0_projection(x0)
        out = torch.cat((self.fm(x, x), self.fm_x0(x, x0), self.compress(x)), dim=1)
        return self.norm(out + self.residual(x))


class ReferenceDLF(nn.Module):
    """
    Tokens (B x n_1 x D) -> logit (B x 1): L reference layers and the head MLP.

    Args:
        num_tokens (int): n_1 (fields, numeric fields embedded one token each).
        dim (int): D.
        tokens_per_block (int): tokens of each of the three blocks.
        rank (int): FM block rank.
        block_hidden (int): block MLP width.
        head_hidden (int): head MLP width.
        num_layers (int): L.
    """

    def __init__(
        self,
        num_tokens: int,
        dim: int,
        tokens_per_block: int = 16,
        rank: int = 24,
        block_hidden: int = 512,
        head_hidden: int = 512,
        num_layers: int = 3,
    ) -> None:
        super().__init__()
        layers = []
        n = num_tokens
        for _ in range(num_layers):
            layers.append(
                ReferenceDLFLayer(
                    num_tokens, n, dim, tokens_per_block, rank, block_hidden
                )
            )
            n = 3 * tokens_per_block
        self.layers = nn.ModuleList(layers)
        self.out_features = n * dim
        self.head = _mlp(self.out_features, head_hidden, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = tokens
        for layer in self.layers:
            x = layer(x, tokens)
        return self.head(x.reshape(-1, self.out_features))
