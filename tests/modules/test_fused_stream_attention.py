import copy
import unittest
from typing import List, Tuple

import torch
import torchrec

from torchrec_dlf.modules.fused_stream_attention import (
    fold_stream_attention_weights,
    fused_stream_attention,
    key_extension,
    query_width,
)
from torchrec_dlf.modules.naf import NetworkAwareAttentionFusion


def _pair(
    num_streams: int, tokens: int, dim: int, heads: int, stream_tags: bool
) -> Tuple[NetworkAwareAttentionFusion, NetworkAwareAttentionFusion]:
    """A fused NAF and a streamwise copy with the same weights (tags drawn large so
    that they matter)."""
    fused = NetworkAwareAttentionFusion(
        [tokens] * num_streams, dim, heads, stream_tags=stream_tags
    )
    if stream_tags:
        with torch.no_grad():
            for block in fused.blocks:
                block.network_embedding.normal_()
    streamwise = copy.deepcopy(fused)
    streamwise.fused = False
    return fused, streamwise


def _streams(num_streams: int, batch: int, tokens: int, dim: int) -> List[torch.Tensor]:
    return [
        torch.randn(batch, tokens, dim, requires_grad=True) for _ in range(num_streams)
    ]


class FusedStreamAttentionTest(unittest.TestCase):
    def test_equals_the_streamwise_blocks_forward_and_backward(self) -> None:
        torch.manual_seed(0)
        # D = 18: query columns padded with and without tags (18 + 3 -> 24, 18 -> 20).
        for num_streams, heads, tags, dim in [
            (3, 2, True, 16),
            (3, 2, False, 16),
            (2, 4, True, 16),
            (3, 1, True, 16),
            (3, 8, False, 16),
            (3, 3, True, 18),
            (3, 2, False, 18),
        ]:
            with self.subTest(streams=num_streams, heads=heads, tags=tags, dim=dim):
                fused, streamwise = _pair(num_streams, 5, dim, heads, tags)
                self.assertTrue(fused.fused)
                streams = _streams(num_streams, 7, 5, dim)
                out = fused(streams)
                expected = streamwise(streams)
                torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
                grad = torch.randn_like(out)
                inputs = streams + list(fused.parameters())
                got = torch.autograd.grad(out, inputs, grad)
                want = torch.autograd.grad(
                    expected, streams + list(streamwise.parameters()), grad
                )
                for g, w in zip(got, want):
                    torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)

    def test_equals_at_the_dlf_layer_shape(self) -> None:
        torch.manual_seed(0)
        fused, streamwise = _pair(3, 16, 64, 2, True)
        streams = [s.detach() for s in _streams(3, 64, 16, 64)]
        torch.testing.assert_close(
            fused(streams), streamwise(streams), rtol=0, atol=1e-6
        )

    def test_same_parameters_and_state_dict_as_streamwise(self) -> None:
        fused, streamwise = _pair(3, 4, 8, 2, True)
        self.assertEqual(list(fused.state_dict()), list(streamwise.state_dict()))
        unequal = NetworkAwareAttentionFusion([2, 3], 8)
        self.assertFalse(unequal.fused)
        with self.assertRaisesRegex(ValueError, "same number of tokens"):
            NetworkAwareAttentionFusion([2, 3], 8, fused=True)

    def test_attention_is_per_sample(self) -> None:
        torch.manual_seed(0)
        fused, _ = _pair(3, 4, 8, 2, True)
        streams = [s.detach() for s in _streams(3, 5, 4, 8)]
        changed = [s.clone() for s in streams]
        changed[2][3] += 2.0
        a, b = fused(streams), fused(changed)
        for i in (0, 1, 2, 4):
            torch.testing.assert_close(a[i], b[i])
        self.assertFalse(torch.allclose(a[3], b[3]))

    def test_dropout_only_in_training(self) -> None:
        torch.manual_seed(0)
        naf = NetworkAwareAttentionFusion([4, 4, 4], 8, dropout=0.5)
        streams = [s.detach() for s in _streams(3, 6, 4, 8)]
        naf.train()
        self.assertFalse(torch.allclose(naf(streams), naf(streams)))
        naf.eval()
        torch.testing.assert_close(naf(streams), naf(streams))

    def test_fx_and_script(self) -> None:
        for tags in (True, False):
            with self.subTest(tags=tags):
                fused, _ = _pair(3, 4, 8, 2, tags)
                fused.eval()
                streams = [s.detach() for s in _streams(3, 2, 4, 8)]
                traced = torchrec.fx.symbolic_trace(fused)
                torch.testing.assert_close(traced(streams), fused(streams))
                # a traced module takes another batch size
                other = [s.detach() for s in _streams(3, 5, 4, 8)]
                torch.testing.assert_close(traced(other), fused(other))
                scripted = torch.jit.script(fused)
                torch.testing.assert_close(scripted(other), fused(other))

    def test_bf16_autocast_stays_close_to_fp32(self) -> None:
        torch.manual_seed(0)
        fused, _ = _pair(3, 8, 32, 2, True)
        streams = [s.detach() for s in _streams(3, 16, 8, 32)]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = fused(streams)
        torch.testing.assert_close(low.float(), fused(streams), rtol=0.05, atol=0.1)

    def test_folded_weights_shapes(self) -> None:
        d, h, s = 8, 2, 3
        weights = [torch.randn(d, d) for _ in range(s)]
        tags = [torch.randn(s, d) for _ in range(s)]
        query_map, value_output = fold_stream_attention_weights(
            weights, weights, weights, weights, tags, h
        )
        # D + S = 11 query columns per head, padded with zeros to 12.
        self.assertEqual(query_map.shape, (s, d, h * 12))
        self.assertEqual(value_output.shape, (s, h * d, d))
        per_head = query_map.view(s, d, h, 12)
        self.assertTrue(torch.all(per_head[..., d + s :] == 0))
        self.assertFalse(torch.all(per_head[..., : d + s] == 0))
        query_map, _ = fold_stream_attention_weights(
            weights, weights, weights, weights, None, h
        )
        self.assertEqual(query_map.shape, (s, d, h * d))

    def test_query_width_and_key_rows(self) -> None:
        self.assertEqual(query_width(64, 3, True), 68)
        self.assertEqual(query_width(16, 2, True), 20)
        self.assertEqual(query_width(64, 3, False), 64)
        self.assertEqual(query_width(18, 3, False), 20)
        rows = key_extension(3, 2, 64, True)
        assert rows is not None
        expected = torch.zeros(4, 6)
        expected[0, :2] = expected[1, 2:4] = expected[2, 4:] = 1.0
        torch.testing.assert_close(rows, expected, rtol=0, atol=0)
        self.assertIsNone(key_extension(3, 2, 64, False))
        padding = key_extension(3, 2, 18, False)
        assert padding is not None
        torch.testing.assert_close(padding, torch.zeros(2, 6), rtol=0, atol=0)

    def test_function_matches_module(self) -> None:
        torch.manual_seed(0)
        fused, streamwise = _pair(2, 3, 8, 2, False)
        streams = [s.detach() for s in _streams(2, 4, 3, 8)]
        blocks = fused.blocks
        query_map, value_output = fold_stream_attention_weights(
            [b.query.weight for b in blocks],
            [b.key.weight for b in blocks],
            [b.value.weight for b in blocks],
            [b.output.weight for b in blocks],
            None,
            2,
        )
        out = fused_stream_attention(
            torch.stack(streams),
            torch.cat(streams, dim=1),
            query_map,
            value_output,
            torch.stack([b.output.bias for b in blocks]),
            None,
            2,
            0.0,
        )
        torch.testing.assert_close(out, streamwise(streams), rtol=0, atol=1e-6)


if __name__ == "__main__":
    unittest.main()
