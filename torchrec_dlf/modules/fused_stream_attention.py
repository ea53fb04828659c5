"""NAF's attention of every stream computed as one operation, by folding each head's
query-key and value-output weight pairs into one D x D product."""

import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F

# Query columns per head are padded with zeros to a multiple of this: the stream tags
# make them D + S (67 at D = 64), and MKL's sgemm ran the query projection 2.4x slower
# at 2 x 67 output columns than at 2 x 68 on an AVX-512 host.
QUERY_COLUMN_MULTIPLE = 4


def query_width(
    embedding_dim: int,
    num_streams: int,
    stream_tags: bool,
    multiple: int = QUERY_COLUMN_MULTIPLE,
) -> int:
    """Columns of one head's folded query: D [+ S], padded to ``multiple``."""
    width = embedding_dim + (num_streams if stream_tags else 0)
    return -(-width // multiple) * multiple


def key_extension(
    num_streams: int, stream_num_tokens: int, embedding_dim: int, stream_tags: bool
) -> Optional[torch.Tensor]:
    """
    The rows `fused_stream_attention` appends to every sample's keys (D x n), one per
    query column beyond D: each token's one-hot stream (with stream tags), then zero
    rows for the padding; None when the queries have D columns.

    Returns:
        Optional[torch.Tensor]: (q - D) x n, q = `query_width`, n = S n_s tokens in
        stream order.
    """
    extra = query_width(embedding_dim, num_streams, stream_tags) - embedding_dim
    if extra == 0:
        return None
    rows = torch.zeros(extra, num_streams * stream_num_tokens)
    if stream_tags:
        stream_of_token = torch.arange(num_streams).repeat_interleave(stream_num_tokens)
        rows[:num_streams] = F.one_hot(stream_of_token, num_streams).t().float()
    return rows


def fold_stream_attention_weights(
    query: List[torch.Tensor],
    key: List[torch.Tensor],
    value: List[torch.Tensor],
    output: List[torch.Tensor],
    stream_tags: Optional[List[torch.Tensor]],
    num_heads: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Folds the per-stream attention weights (nn.Linear layout, out x in) into the two
    stacked matrices `fused_stream_attention` multiplies with. Per stream s and head h
    (W_h: the head's dh rows, W_O,h: its dh columns):

        score_h(x, z) = (W_Q,h x) . (W_K,h z + e_h) / sqrt(dh)
                      = x^T [W_Q,h^T W_K,h | W_Q,h^T e_h^T] [z | onehot] / sqrt(dh)
        output        = sum_h (P_h Z) W_V,h^T W_O,h^T + b

    so keys and values need no projection: every query attends to the raw tokens.
    This is the same function of the same parameters (only rounding differs), with
    fewer FLOPs than projecting all n tokens once per stream and head.

    Args:
        query, key, value, output (List[torch.Tensor]): S weights, each D x D.
        stream_tags (Optional[List[torch.Tensor]]): S tag tables, each S x D, or None.
        num_heads (int): h.

    Returns:
        Tuple[torch.Tensor, torch.Tensor]: the query map S x D x (h q), scale included,
        q = `query_width`, columns ordered (head, [token dim | stream tag | zero
        padding]); and the value-output map S x (h D) x D, rows ordered (head, token
        dim).
    """
    num_streams = len(query)
    dim = query[0].size(0)
    head_dim = dim // num_heads
    wq = torch.stack(query).view(num_streams, num_heads, head_dim, dim)
    wk = torch.stack(key).view(num_streams, num_heads, head_dim, dim)
    query_key = torch.matmul(wq.transpose(-1, -2), wk)  # S x h x D x D
    if stream_tags is not None:
        tags = torch.stack(stream_tags).view(num_streams, -1, num_heads, head_dim)
        # S x h x D x S: the tag term of the score is linear in the query token too.
        query_tag = torch.matmul(wq.transpose(-1, -2), tags.permute(0, 2, 3, 1))
        query_key = torch.cat((query_key, query_tag), dim=-1)
    width = query_width(dim, num_streams, stream_tags is not None)
    if width > query_key.size(-1):
        query_key = F.pad(query_key, (0, width - query_key.size(-1)))
    query_map = (query_key * (1.0 / math.sqrt(head_dim))).transpose(1, 2)
    wv = torch.stack(value).view(num_streams, num_heads, head_dim, dim)
    wo = torch.stack(output).view(num_streams, dim, num_heads, head_dim)
    # S x h x D(in) x D(out)
    value_output = torch.matmul(wv.transpose(-1, -2), wo.permute(0, 2, 3, 1))
    return (
        query_map.reshape(num_streams, dim, -1),
        value_output.reshape(num_streams, num_heads * dim, dim),
    )


def fused_stream_attention(
    streams: torch.Tensor,
    tokens: torch.Tensor,
    query_map: torch.Tensor,
    value_output: torch.Tensor,
    output_bias: torch.Tensor,
    key_rows: Optional[torch.Tensor],
    num_heads: int,
    dropout_p: float,
) -> torch.Tensor:
    """
    NAF for every stream at once: each stream's tokens, under each head, attend to all
    tokens of the sample (softmax per sample and query), with the weights of
    `fold_stream_attention_weights`. Queries of all streams and heads are rows of one
    per-sample attention, so there is one score product, one softmax and one weighted
    sum for the whole layer, and two stream-batched products around them.

    Args:
        streams (torch.Tensor): S x B x n_s x D, the streams stacked (n = S n_s).
        tokens (torch.Tensor): B x n x D, the same tokens in stream order.
        query_map (torch.Tensor): S x D x (h q), q = `query_width`.
        value_output (torch.Tensor): S x (h D) x D.
        output_bias (torch.Tensor): S x D.
        key_rows (Optional[torch.Tensor]): (q - D) x n, `key_extension`: what the query
            columns beyond D meet (stream one-hots, zero padding); None when q = D.
        num_heads (int): h.
        dropout_p (float): dropout on the attention weights.

    Returns:
        torch.Tensor: B x n x D, tokens + attention output, in stream order.
    """
    num_streams, stream_tokens, dim = streams.size(0), streams.size(2), streams.size(3)
    query_dim = query_map.size(-1) // num_heads
    # S x (B n_s) x h q -> B x (S n_s h) x q: queries in batch-major rows.
    queries = torch.bmm(streams.reshape(num_streams, -1, dim), query_map)
    queries = queries.view(num_streams, -1, stream_tokens * num_heads, query_dim)
    queries = queries.transpose(0, 1).reshape(
        -1, num_streams * stream_tokens * num_heads, query_dim
    )
    keys = tokens.transpose(1, 2)  # B x D x n
    if key_rows is not None:
        # B x q x n: the tag columns of the queries meet the one-hot rows, so one
        # product gives token and tag terms (slicing the queries instead costs two
        # zero-filled B x Q x q gradient buffers in the backward pass).
        rows = key_rows.to(keys.dtype).expand(tokens.size(0), -1, -1)
        keys = torch.cat((keys, rows), dim=1)
    scores = torch.bmm(queries, keys)
    weights = torch.softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    attended = torch.bmm(weights, tokens)  # B x (S n_s h) x D
    attended = attended.view(-1, num_streams, stream_tokens * num_heads * dim)
    attended = attended.transpose(0, 1).reshape(
        num_streams, -1, num_heads * dim
    )  # S x (B n_s) x (h D)
    out = torch.bmm(attended, value_output).view(
        num_streams, -1, stream_tokens, dim
    ) + output_bias.to(tokens.dtype).unsqueeze(1).unsqueeze(1)
    return tokens + out.transpose(0, 1).reshape(-1, num_streams * stream_tokens, dim)
