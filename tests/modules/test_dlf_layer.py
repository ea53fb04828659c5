import itertools
import unittest

import torch
import torchrec

from torchrec_dlf.modules.dlf_layer import DLFLayer
from torchrec_dlf.modules.stream_fusion import ConcatFusion, NetworkAwareAttentionFusion


def _layer(**kw) -> DLFLayer:
    args = dict(
        num_input_tokens=5,
        num_base_tokens=4,
        embedding_dim=8,
        tokens_per_block=3,
        rank=2,
        block_mlp_width=16,
    )
    args.update(kw)
    return DLFLayer(**args)


class DLFLayerTest(unittest.TestCase):
    def test_output_tokens(self) -> None:
        tokens, base = torch.randn(6, 5, 8), torch.randn(6, 4, 8)
        self.assertEqual(_layer()(tokens, base).shape, (6, 9, 8))
        self.assertEqual(_layer(low_order=False)(tokens, base).shape, (6, 6, 8))

    def test_output_is_layer_normalised(self) -> None:
        out = _layer()(torch.randn(6, 5, 8), torch.randn(6, 4, 8))
        torch.testing.assert_close(out.mean(-1), torch.zeros(6, 9), atol=1e-5, rtol=0)

    def test_composition_matches_blocks(self) -> None:
        torch.manual_seed(3)
        layer = _layer(fusion="concat").eval()
        tokens, base = torch.randn(2, 5, 8), torch.randn(2, 4, 8)
        expected = layer.norm(
            torch.cat(
                [
                    layer.low_order(base, tokens),
                    layer.high_order(tokens, tokens),
                    layer.implicit(tokens),
                ],
                dim=1,
            )
            + layer.residual(tokens)
        )
        torch.testing.assert_close(layer(tokens, base), expected)

    def test_switches(self) -> None:
        self.assertIsInstance(_layer().fusion, NetworkAwareAttentionFusion)
        self.assertIsInstance(_layer(fusion="concat").fusion, ConcatFusion)
        self.assertFalse(hasattr(_layer(low_order=False), "low_order"))
        self.assertFalse(_layer(implicit_activation=False).implicit._activation)
        self.assertFalse(_layer(gate=False).residual._gate)
        with self.assertRaisesRegex(ValueError, "fusion"):
            _layer(fusion="sum")

    def test_fx_and_script_every_switch(self) -> None:
        tokens, base = torch.randn(2, 5, 8), torch.randn(2, 4, 8)
        for low, fusion, gate, act in itertools.product(
            (True, False), ("attention", "concat"), (True, False), (True, False)
        ):
            layer = _layer(low_order=low, fusion=fusion, gate=gate, implicit_activation=act).eval()
            expected = layer(tokens, base)
            torch.testing.assert_close(torchrec.fx.symbolic_trace(layer)(tokens, base), expected)
            torch.testing.assert_close(torch.jit.script(layer)(tokens, base), expected)
