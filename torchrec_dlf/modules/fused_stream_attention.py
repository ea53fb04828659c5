"""NAF's attention of every stream computed as one operation, by folding each head's
query-key and value-output weight pairs into one D x D product."""

import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F


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
        Tuple[torch.Tensor, torch.Tensor]: the query map S x D x (h (D [+ S])), scale
        included, columns ordered (head, [token dim | stream tag]); and the value-output
        map S x (h D) x D, rows ordered (head, token dim).
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
    stream_of_token: Optional[torch.Tensor],
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
        query_map (torch.Tensor): S x D x (h (D [+ S])).
        value_output (torch.Tensor): S x (h D) x D.
        output_bias (torch.Tensor): S x D.
        stream_of_token (Optional[torch.Tensor]): S x n one-hot stream of each token,
            when the keys carry stream tags; None otherwise.
        num_heads (int): h.
        dropout_p (float): dropout on the attention weights.

    Returns:
        torch.Tensor: B x n x D, tokens + attention output, in stream order.
    """
    num_streams, stream_tokens, dim = streams.size(0), streams.size(2), streams.size(3)
    query_dim = query_map.size(-1) // num_heads
    # S x (B n_s) x h(D [+ S]) -> B x (S n_s h) x (D [+ S]): queries in batch-major rows.
    queries = torch.bmm(streams.reshape(num_streams, -1, dim), query_map)
    queries = queries.view(num_streams, -1, stream_tokens * num_heads, query_dim)
    queries = queries.transpose(0, 1).reshape(
        -1, num_streams * stream_tokens * num_heads, query_dim
    )
    keys = tokens.transpose(1, 2)
    if stream_of_token is not None:
        scores = torch.baddbmm(
            torch.matmul(queries[:, :, dim:], stream_of_token),
            queries[:, :, :dim],
            keys,
        )
    else:
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
    ) + output_bias.unsqueeze(1).unsqueeze(1)
    return tokens + out.transpose(0, 1).reshape(-1, num_streams * stream_tokens, dim)
