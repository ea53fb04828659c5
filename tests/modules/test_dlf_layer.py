import itertools
import unittest

import torch
import torchrec

from torchrec_dlf.modules.dlf_layer import DLFLayer
from torchrec_dlf.modules.naf import ConcatFusion, NetworkAwareAttentionFusion


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
        tokens, base = torch.randn(2, 5, 8), torch.randn(2, 4, 8)
        for branch_scale in (True, False):
            layer = _layer(fusion="concat", branch_scale=branch_scale).eval()
            with torch.no_grad():
                layer.branch_scale.fill_(0.7)
            streams = torch.cat(
                [
                    layer.low_order(base, tokens),
                    layer.high_order(tokens, tokens),
                    layer.implicit(tokens),
                ],
                dim=1,
            )
            scale = 0.7 if branch_scale else 1.0
            expected = layer.norm(scale * streams + layer.residual(tokens))
            torch.testing.assert_close(layer(tokens, base), expected)

    def test_starts_as_its_normalised_residual(self) -> None:
        layer = _layer().eval()
        tokens, base = torch.randn(2, 5, 8), torch.randn(2, 4, 8)
        torch.testing.assert_close(
            layer(tokens, base), layer.norm(layer.residual(tokens))
        )
        self.assertTrue(layer.branch_scale.requires_grad)
        self.assertFalse(_layer(branch_scale=False).branch_scale.requires_grad)

    def test_streams_learn_once_the_scale_moves(self) -> None:
        layer = _layer().train()
        tokens, base = torch.randn(6, 5, 8), torch.randn(6, 4, 8)
        layer(tokens, base).square().sum().backward()
        self.assertNotEqual(layer.branch_scale.grad.item(), 0.0)

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
        for low, fusion, gate, act, scale, norm in itertools.product(
            (True, False),
            ("attention", "concat"),
            (True, False),
            (True, False),
            (True, False),
            ("layer", "batch"),
        ):
            layer = _layer(
                low_order=low,
                fusion=fusion,
                gate=gate,
                implicit_activation=act,
                branch_scale=scale,
                block_norm=norm,
            ).eval()
            with torch.no_grad():
                layer.branch_scale.fill_(0.5)
            expected = layer(tokens, base)
            torch.testing.assert_close(
                torchrec.fx.symbolic_trace(layer)(tokens, base), expected
            )
            torch.testing.assert_close(torch.jit.script(layer)(tokens, base), expected)
