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

    def test_output_scale_multiplies_the_normalised_output(self) -> None:
        torch.manual_seed(4)
        layer = _layer()
        with torch.no_grad():
            layer.norm.weight.normal_()
            layer.norm.bias.normal_()
            layer.branch_scale.fill_(0.5)
        tokens = torch.randn(3, 5, 8, requires_grad=True)
        base = torch.randn(3, 4, 8)
        scaled = layer(tokens, base, 0.125)
        plain = layer(tokens, base)
        torch.testing.assert_close(scaled, 0.125 * plain, rtol=1e-6, atol=1e-6)
        grad = torch.randn_like(plain)
        (got,) = torch.autograd.grad(scaled, tokens, grad)
        (want,) = torch.autograd.grad(0.125 * plain, tokens, grad)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)

    def test_bf16_autocast_keeps_tokens_bf16(self) -> None:
        # Parameters meet the activations in their dtype: no promotion back to fp32
        # between the layer's products (with either fusion and the gate).
        for fusion in ("attention", "concat"):
            with self.subTest(fusion=fusion):
                layer = _layer(fusion=fusion)
                tokens = torch.randn(4, 5, 8).bfloat16()
                base = torch.randn(4, 4, 8).bfloat16()
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    out = layer(tokens, base, 0.5)
                self.assertEqual(out.dtype, torch.bfloat16)
                with torch.no_grad():
                    fp32 = layer(tokens.float(), base.float(), 0.5)
                torch.testing.assert_close(out.float(), fp32, rtol=0.05, atol=0.05)

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
