"""NAF, Network-Aware Attention Fusion of DLF's streams (or plain concatenation)."""

import math
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from torchrec_dlf.modules.dlf_config import DLFConfig
from torchrec_dlf.modules.fused_stream_attention import (
    fold_stream_attention_weights,
    fused_stream_attention,
    key_extension,
)

# Leaves for fx tracing (their shapes are read as ints); scripted as they are.
torch.fx.wrap("fold_stream_attention_weights")
torch.fx.wrap("fused_stream_attention")


@torch.fx.wrap
def multi_head_attention(
    queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, dropout_p: float
) -> torch.Tensor:
    """
    Scaled dot-product attention per sample and head: B x h x n_q x dh queries against
    B x h x n x dh keys and values. DLF's heads are tiny (dh = D / heads), and on CPU the
    fused SDPA kernel is the fast one in fp32 but several times slower than two batched
    matmuls in bf16 (its backward especially), so the kernel follows the dtype (a leaf
    for fx tracing; same numbers either way).
    """
    if queries.is_cuda or queries.dtype == torch.float32:
        return F.scaled_dot_product_attention(
            queries, keys, values, dropout_p=dropout_p
        )
    scores = torch.matmul(queries, keys.transpose(-1, -2)) * (
        1.0 / math.sqrt(queries.size(-1))
    )
    weights = torch.softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return torch.matmul(weights, values)


class StreamAttentionBlock(nn.Module):
    """
    Fusion block of one stream in NAF: the stream's tokens attend to the tokens of all
    streams. Keys carry a learned embedding of the network (stream) each token came
    from, so attention can tell the low-order, high-order and implicit tokens apart.
    Attention runs per sample (softmax over tokens, never across the batch):

        F_s = Z_s + W_O MultiHead(Q = Z_s W_Q, K = Z W_K + e_net(Z), V = Z W_V)

    Args:
        num_query_tokens (int): n_s, tokens of this stream.
        num_streams (int): S, number of streams (networks).
        embedding_dim (int): D.
        num_heads (int): attention heads; must divide D.
        dropout (float): attention dropout.
        stream_tags (bool): add the stream embedding to the keys (off: plain
            attention over the tokens, which cannot tell the streams apart).

    Example::

        block = StreamAttentionBlock(num_query_tokens=16, num_streams=3, embedding_dim=16)
        stream_of_token = torch.arange(3).repeat_interleave(16)
        out = block(torch.rand(8, 16, 16), torch.rand(8, 48, 16), stream_of_token)  # 8 x 16 x 16
    """

    stream_tags: torch.jit.Final[bool]

    def __init__(
        self,
        num_query_tokens: int,
        num_streams: int,
        embedding_dim: int,
        num_heads: int = 2,
        dropout: float = 0.0,
        stream_tags: bool = True,
    ) -> None:
        super().__init__()
        if embedding_dim % num_heads != 0:
            raise ValueError(
                f"embedding_dim ({embedding_dim}) must be divisible by num_heads ({num_heads})"
            )
        self._num_query_tokens = num_query_tokens
        self._num_heads = num_heads
        self._head_dim = embedding_dim // num_heads
        self._embedding_dim = embedding_dim
        self._dropout = dropout
        self.query = nn.Linear(embedding_dim, embedding_dim, bias=False)
        self.key = nn.Linear(embedding_dim, embedding_dim, bias=False)
        self.value = nn.Linear(embedding_dim, embedding_dim, bias=False)
        self.output = nn.Linear(embedding_dim, embedding_dim)
        self.stream_tags = stream_tags
        if stream_tags:
            self.network_embedding = nn.Parameter(
                torch.empty(num_streams, embedding_dim)
            )
        else:
            # An empty placeholder keeps the attribute scriptable for the fused path.
            self.register_buffer("network_embedding", torch.empty(0), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.stream_tags:
            nn.init.normal_(self.network_embedding, std=0.02)

    def forward(
        self, queries: torch.Tensor, tokens: torch.Tensor, stream_of_token: torch.Tensor
    ) -> torch.Tensor:
        """
        Args:
            queries (torch.Tensor): B x n_s x D, this stream's tokens.
            tokens (torch.Tensor): B x n x D, the tokens of all streams.
            stream_of_token (torch.Tensor): n, stream index of each token (int64).

        Returns:
            torch.Tensor: B x n_s x D.
        """
        num_tokens = stream_of_token.size(0)
        keys = self.key(tokens)
        if self.stream_tags:
            keys = keys + self.network_embedding[stream_of_token].to(keys.dtype)
        q = self.query(queries).reshape(
            -1, self._num_query_tokens, self._num_heads, self._head_dim
        )
        k = keys.reshape(-1, num_tokens, self._num_heads, self._head_dim)
        v = self.value(tokens).reshape(-1, num_tokens, self._num_heads, self._head_dim)
        attended = multi_head_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            self._dropout if self.training else 0.0,
        )
        attended = attended.transpose(1, 2).reshape(
            -1, self._num_query_tokens, self._embedding_dim
        )
        return queries + self.output(attended)


class NetworkAwareAttentionFusion(nn.Module):
    """
    NAF: each stream's tokens attend to the tokens of all streams with their own
    `StreamAttentionBlock` weights; outputs concatenated along the token axis in stream
    order. Replaces plain concatenation so that every layer fuses what the low-order,
    high-order and implicit networks learned.

    With ``fused=True`` (the default where every stream has the same number of tokens,
    as in a DLF layer) all streams and heads run as one operation
    (`fused_stream_attention`): the same function of the same parameters, computed
    without projecting every token once per stream. ``fused=False`` runs one block per
    stream (the reference the fused path is tested against).

    Args:
        stream_num_tokens (List[int]): tokens of each stream, in order.
        embedding_dim (int): D.
        num_heads (int): attention heads; must divide D.
        dropout (float): attention dropout.
        stream_tags (bool): keys carry the stream embedding (`StreamAttentionBlock`).
        fused (Optional[bool]): one fused operation for all streams (default: when the
            streams have equal token counts; required for it).

    Example::

        naf = NetworkAwareAttentionFusion([16, 16, 16], embedding_dim=16)
        fused = naf([torch.rand(8, 16, 16)] * 3)  # 8 x 48 x 16
    """

    fused: torch.jit.Final[bool]
    stream_tags: torch.jit.Final[bool]

    def __init__(
        self,
        stream_num_tokens: List[int],
        embedding_dim: int,
        num_heads: int = 2,
        dropout: float = 0.0,
        stream_tags: bool = True,
        fused: Optional[bool] = None,
    ) -> None:
        super().__init__()
        num_streams = len(stream_num_tokens)
        equal_streams = len(set(stream_num_tokens)) == 1
        if fused and not equal_streams:
            raise ValueError(
                "fused NAF needs the same number of tokens in every stream, got "
                f"{stream_num_tokens}"
            )
        self.fused = equal_streams if fused is None else fused
        self.stream_tags = stream_tags
        self._num_heads = num_heads
        self._dropout = dropout
        self.blocks = nn.ModuleList(
            [
                StreamAttentionBlock(
                    n, num_streams, embedding_dim, num_heads, dropout, stream_tags
                )
                for n in stream_num_tokens
            ]
        )
        stream_of_token = torch.repeat_interleave(
            torch.arange(num_streams), torch.tensor(stream_num_tokens)
        )
        self.register_buffer("stream_of_token", stream_of_token, persistent=False)
        # (q - D) x n: rows the fused path appends to the keys (stream one-hots for the
        # tags, zero padding); an empty placeholder keeps it scriptable when q = D.
        rows = (
            key_extension(num_streams, stream_num_tokens[0], embedding_dim, stream_tags)
            if self.fused
            else None
        )
        self.register_buffer(
            "key_rows", torch.empty(0) if rows is None else rows, persistent=False
        )

    def forward(self, streams: List[torch.Tensor]) -> torch.Tensor:
        """
        Args:
            streams (List[torch.Tensor]): S tensors, stream s of shape B x n_s x D.

        Returns:
            torch.Tensor: B x (sum n_s) x D.
        """
        tokens = torch.cat(streams, dim=1)
        if self.fused:
            return self._fused_forward(streams, tokens)
        fused: List[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            fused.append(block(streams[i], tokens, self.stream_of_token))
        return torch.cat(fused, dim=1)

    def _fused_forward(
        self, streams: List[torch.Tensor], tokens: torch.Tensor
    ) -> torch.Tensor:
        query: List[torch.Tensor] = []
        key: List[torch.Tensor] = []
        value: List[torch.Tensor] = []
        output: List[torch.Tensor] = []
        bias: List[torch.Tensor] = []
        tags: List[torch.Tensor] = []
        # Parameter gathering only (S small D x D weights); the tokens go through
        # `fused_stream_attention` once.
        for block in self.blocks:
            query.append(block.query.weight)
            key.append(block.key.weight)
            value.append(block.value.weight)
            output.append(block.output.weight)
            bias.append(block.output.bias)
            tags.append(block.network_embedding)
        stream_tags: Optional[List[torch.Tensor]] = None
        if self.stream_tags:
            stream_tags = tags
        key_rows: Optional[torch.Tensor] = None
        if self.key_rows.numel() > 0:
            key_rows = self.key_rows
        query_map, value_output = fold_stream_attention_weights(
            query, key, value, output, stream_tags, self._num_heads
        )
        return fused_stream_attention(
            torch.stack(streams),
            tokens,
            query_map,
            value_output,
            torch.stack(bias),
            key_rows,
            self._num_heads,
            self._dropout if self.training else 0.0,
        )


class ConcatFusion(nn.Module):
    """
    Fusion by concatenation along the token axis (the default model of the authors'
    released code, and DLF's "without NAF" ablation).

    Example::

        fused = ConcatFusion()([torch.rand(8, 16, 16)] * 3)  # 8 x 48 x 16
    """

    def forward(self, streams: List[torch.Tensor]) -> torch.Tensor:
        """
        Args:
            streams (List[torch.Tensor]): S tensors, stream s of shape B x n_s x D.

        Returns:
            torch.Tensor: B x (sum n_s) x D.
        """
        return torch.cat(streams, dim=1)


def build_fusion(
    stream_num_tokens: List[int], embedding_dim: int, config: DLFConfig
) -> nn.Module:
    """
    The fusion ``config.fusion`` names, with the config's NAF settings: NAF for
    "attention", `ConcatFusion` for "concat".

    Args:
        stream_num_tokens (List[int]): tokens of each stream, in order.
        embedding_dim (int): D.
        config (DLFConfig): the DLF settings.
    """
    if config.fusion == "attention":
        return NetworkAwareAttentionFusion(
            stream_num_tokens,
            embedding_dim,
            config.num_heads,
            config.dropout,
            config.stream_tags,
            config.fused_attention,
        )
    return ConcatFusion()
