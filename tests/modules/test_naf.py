import math
import unittest

import torch
import torchrec

from torchrec_dlf.modules.dlf_config import DLFConfig
from torchrec_dlf.modules.naf import (
    ConcatFusion,
    NetworkAwareAttentionFusion,
    StreamAttentionBlock,
    build_fusion,
)


def _reference_block(
    block: StreamAttentionBlock, queries, tokens, stream_of_token, heads
):
    """Per-sample multi-head attention written out with explicit softmax."""
    d = queries.shape[-1]
    dh = d // heads
    out = []
    for b in range(queries.shape[0]):
        q = block.query(queries[b])
        k = block.key(tokens[b]) + block.network_embedding[stream_of_token]
        v = block.value(tokens[b])
        per_head = []
        for h in range(heads):
            sl = slice(h * dh, (h + 1) * dh)
            scores = q[:, sl] @ k[:, sl].T / math.sqrt(dh)
            per_head.append(torch.softmax(scores, dim=-1) @ v[:, sl])
        out.append(queries[b] + block.output(torch.cat(per_head, dim=-1)))
    return torch.stack(out)


class StreamAttentionBlockTest(unittest.TestCase):
    def test_numerics_against_explicit_attention(self) -> None:
        torch.manual_seed(0)
        block = StreamAttentionBlock(
            num_query_tokens=3, num_streams=2, embedding_dim=8, num_heads=2
        )
        queries, tokens = torch.randn(2, 3, 8), torch.randn(2, 7, 8)
        stream_of_token = torch.tensor([0, 0, 0, 1, 1, 1, 1])
        torch.testing.assert_close(
            block(queries, tokens, stream_of_token),
            _reference_block(block, queries, tokens, stream_of_token, 2),
            rtol=1e-5,
            atol=1e-5,
        )

    def test_network_embedding_changes_attention(self) -> None:
        torch.manual_seed(0)
        block = StreamAttentionBlock(3, 2, 8)
        queries, tokens = torch.randn(2, 3, 8), torch.randn(2, 6, 8)
        a = block(queries, tokens, torch.tensor([0, 0, 0, 1, 1, 1]))
        b = block(queries, tokens, torch.tensor([1, 1, 1, 0, 0, 0]))
        self.assertFalse(torch.allclose(a, b))

    def test_without_stream_tags_attention_cannot_tell_streams_apart(self) -> None:
        torch.manual_seed(0)
        block = StreamAttentionBlock(3, 2, 8, stream_tags=False)
        self.assertEqual(
            [n for n, _ in block.named_parameters()],
            [
                "query.weight",
                "key.weight",
                "value.weight",
                "output.weight",
                "output.bias",
            ],
        )
        queries, tokens = torch.randn(2, 3, 8), torch.randn(2, 6, 8)
        a = block(queries, tokens, torch.tensor([0, 0, 0, 1, 1, 1]))
        b = block(queries, tokens, torch.tensor([1, 1, 1, 0, 0, 0]))
        torch.testing.assert_close(a, b)
        # the same numbers as a tagged block whose tags are zero
        tagged = StreamAttentionBlock(3, 2, 8)
        tagged.load_state_dict(block.state_dict(), strict=False)
        with torch.no_grad():
            tagged.network_embedding.zero_()
        torch.testing.assert_close(tagged(queries, tokens, torch.tensor([0] * 6)), a)

    def test_heads_must_divide_dim(self) -> None:
        with self.assertRaisesRegex(ValueError, "divisible"):
            StreamAttentionBlock(3, 2, embedding_dim=10, num_heads=4)


class NetworkAwareAttentionFusionTest(unittest.TestCase):
    def test_shape_and_stream_order(self) -> None:
        torch.manual_seed(0)
        naf = NetworkAwareAttentionFusion([2, 3, 4], embedding_dim=8)
        streams = [torch.randn(5, n, 8) for n in (2, 3, 4)]
        out = naf(streams)
        self.assertEqual(out.shape, (5, 9, 8))
        self.assertEqual(naf.stream_of_token.tolist(), [0, 0, 1, 1, 1, 2, 2, 2, 2])
        tokens = torch.cat(streams, dim=1)
        for i, (block, a) in enumerate(zip(naf.blocks, (0, 2, 5))):
            n = streams[i].shape[1]
            torch.testing.assert_close(
                out[:, a : a + n], block(streams[i], tokens, naf.stream_of_token)
            )

    def test_attention_is_per_sample(self) -> None:
        naf = NetworkAwareAttentionFusion([2, 2], embedding_dim=8).eval()
        streams = [torch.randn(4, 2, 8), torch.randn(4, 2, 8)]
        changed = [s.clone() for s in streams]
        changed[1][2] += 3.0
        a, b = naf(streams), naf(changed)
        for i in (0, 1, 3):
            torch.testing.assert_close(a[i], b[i])
        self.assertFalse(torch.allclose(a[2], b[2]))

    def test_fx_and_script(self) -> None:
        naf = NetworkAwareAttentionFusion([2, 3], embedding_dim=8).eval()
        streams = [torch.randn(2, 2, 8), torch.randn(2, 3, 8)]
        torch.testing.assert_close(
            torchrec.fx.symbolic_trace(naf)(streams), naf(streams)
        )
        torch.testing.assert_close(torch.jit.script(naf)(streams), naf(streams))

    def test_fx_and_script_without_stream_tags(self) -> None:
        naf = NetworkAwareAttentionFusion([2, 3], 8, stream_tags=False).eval()
        streams = [torch.randn(2, 2, 8), torch.randn(2, 3, 8)]
        torch.testing.assert_close(
            torchrec.fx.symbolic_trace(naf)(streams), naf(streams)
        )
        torch.testing.assert_close(torch.jit.script(naf)(streams), naf(streams))

    def test_built_from_the_config(self) -> None:
        config = DLFConfig(num_heads=4, dropout=0.1, stream_tags=False)
        naf = build_fusion([2, 2, 2], 8, config)
        self.assertIsInstance(naf, NetworkAwareAttentionFusion)
        block = naf.blocks[0]
        self.assertEqual((block._num_heads, block._dropout), (4, 0.1))
        self.assertFalse(any(b.stream_tags for b in naf.blocks))
        self.assertTrue(build_fusion([2], 8, DLFConfig()).blocks[0].stream_tags)
        concat = build_fusion([2, 2], 8, DLFConfig(fusion="concat"))
        self.assertIsInstance(concat, ConcatFusion)


class ConcatFusionTest(unittest.TestCase):
    def test_concat(self) -> None:
        streams = [torch.randn(2, 2, 4), torch.randn(2, 3, 4)]
        torch.testing.assert_close(ConcatFusion()(streams), torch.cat(streams, dim=1))
        torch.testing.assert_close(
            torch.jit.script(ConcatFusion())(streams), torch.cat(streams, dim=1)
        )
