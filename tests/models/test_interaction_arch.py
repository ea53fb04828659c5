import itertools
import unittest

import torch
import torchrec

from torchrec_dlf import DLFInteractionArch

B, F, D = 6, 5, 8
SMALL = dict(tokens_per_block=3, rank=2, block_mlp_width=16, num_layers=2)


def _arch(**kw) -> DLFInteractionArch:
    args = dict(num_sparse_features=F, embedding_dim=D, **SMALL)
    args.update(kw)
    return DLFInteractionArch(**args)


def _inputs(seed: int = 0, dense_tokens: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, dense_tokens * D, generator=g), torch.randn(
        B, F, D, generator=g
    )


class DLFInteractionArchTest(unittest.TestCase):
    def test_output_width_formula(self) -> None:
        # I = n_(L+1) * D with n_(L+1) = streams * tokens_per_block.
        for low_order, tokens, layers in itertools.product(
            (True, False), (3, 7), (1, 3)
        ):
            arch = _arch(
                low_order=low_order, tokens_per_block=tokens, num_layers=layers
            )
            dense, sparse = _inputs()
            out = arch(dense_features=dense, sparse_features=sparse)
            expected = (3 if low_order else 2) * tokens * D
            self.assertEqual(arch.output_dim, expected)
            self.assertEqual(out.shape, (B, expected))

    def test_dense_token_counts(self) -> None:
        sparse = torch.randn(B, F, D)
        for n in (0, 1, 4):
            arch = _arch(num_dense_tokens=n)
            out = arch(dense_features=torch.randn(B, n * D), sparse_features=sparse)
            self.assertEqual(out.shape, (B, arch.output_dim))
            self.assertEqual(arch.layers[0].high_order.projection.shape[0], n + F)

    def test_no_dense_token_ignores_dense_features(self) -> None:
        arch = _arch(num_dense_tokens=0).eval()
        sparse = torch.randn(B, F, D)
        empty = arch(dense_features=torch.zeros(B, 0), sparse_features=sparse)
        # Dense inputs of other widths and values change nothing...
        for dense in (torch.randn(B, D), 100 * torch.randn(B, 3 * D)):
            torch.testing.assert_close(
                arch(dense_features=dense, sparse_features=sparse), empty
            )
        # ... while the sparse tokens do (the comparison can fail).
        moved = arch(
            dense_features=torch.zeros(B, 0), sparse_features=torch.randn(B, F, D)
        )
        self.assertGreater((moved - empty).abs().max().item(), 1e-3)

    def test_output_scale(self) -> None:
        # scale_output divides the flattened tokens by sqrt(I), inside the last layer.
        torch.manual_seed(2)
        scaled = _arch()
        plain = _arch(scale_output=False)
        plain.load_state_dict(scaled.state_dict())
        dense, sparse = _inputs()
        torch.testing.assert_close(
            scaled(dense_features=dense, sparse_features=sparse),
            plain(dense_features=dense, sparse_features=sparse)
            / scaled.output_dim**0.5,
            rtol=1e-5,
            atol=1e-6,
        )

    def test_bf16_autocast_from_fp32_embeddings(self) -> None:
        # fp32 pooled embeddings beside a bf16 dense arch output: the tokens take the
        # dense arch's dtype at the input, not fp32 by promotion.
        arch = _arch()
        dense, sparse = _inputs()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = arch(dense_features=dense.bfloat16(), sparse_features=sparse)
        self.assertEqual(out.dtype, torch.bfloat16)

    def test_fx_trace_and_script(self) -> None:
        dense, sparse = _inputs()
        for kw in (
            {},
            {"low_order": False},
            {"fusion": "concat"},
            {"gate": False},
            {"implicit_activation": False},
            {"num_dense_tokens": 0},
        ):
            arch = _arch(**kw).eval()
            d = dense if kw.get("num_dense_tokens", 1) else torch.randn(B, 0)
            expected = arch(dense_features=d, sparse_features=sparse)
            traced = torchrec.fx.symbolic_trace(arch)
            torch.testing.assert_close(
                traced(dense_features=d, sparse_features=sparse), expected
            )
            scripted = torch.jit.script(traced)
            torch.testing.assert_close(scripted(d, sparse), expected)
            torch.testing.assert_close(torch.jit.script(arch)(d, sparse), expected)

    def test_batch_independence(self) -> None:
        # Change one sample: every other sample's output stays bit-identical.
        arch = _arch().eval()
        dense, sparse = _inputs()
        out = arch(dense_features=dense, sparse_features=sparse)
        dense2, sparse2 = dense.clone(), sparse.clone()
        dense2[3] = torch.randn(D) * 5
        sparse2[3] = torch.randn(F, D) * 5
        out2 = arch(dense_features=dense2, sparse_features=sparse2)
        others = [i for i in range(B) if i != 3]
        self.assertTrue(torch.equal(out[others], out2[others]))
        self.assertFalse(torch.allclose(out[3], out2[3]))

    def test_every_switch_trains_every_block(self) -> None:
        dense, sparse = _inputs()
        for low, fusion, gate, act in itertools.product(
            (True, False), ("attention", "concat"), (True, False), (True, False)
        ):
            with self.subTest(low_order=low, fusion=fusion, gate=gate, activation=act):
                arch = _arch(
                    low_order=low, fusion=fusion, gate=gate, implicit_activation=act
                )
                # The branch scale starts at 0 (ReZero), which blocks the streams'
                # gradients at init; move it off zero to see every block's wiring.
                with torch.no_grad():
                    for layer in arch.layers:
                        layer.branch_scale.fill_(0.5)
                d = dense.clone().requires_grad_()
                s = sparse.clone().requires_grad_()
                out = arch(dense_features=d, sparse_features=s)
                (out * torch.randn_like(out)).sum().backward()
                self.assertGreater(d.grad.abs().sum().item(), 0)
                self.assertGreater(s.grad.abs().sum().item(), 0)
                for name, p in arch.named_parameters():
                    if not p.requires_grad:
                        continue
                    self.assertIsNotNone(p.grad, name)
                    self.assertGreater(p.grad.abs().sum().item(), 0, name)
                blocks = {n.split(".")[2] for n, _ in arch.named_parameters()}
                expected = {"high_order", "implicit", "norm", "branch_scale"}
                streams = 3 if low else 2
                # The residual has parameters when gated or when it projects n_1 -> n_2.
                if gate or streams * SMALL["tokens_per_block"] != F + 1:
                    expected.add("residual")
                if low:
                    expected.add("low_order")
                if fusion == "attention":
                    expected.add("fusion")
                self.assertEqual(blocks, expected)

    def test_stream_parameters_partition_the_layers(self) -> None:
        arch = _arch()
        groups = arch.stream_parameters()
        self.assertEqual(
            sorted(groups), ["alpha", "beta", "fusion", "gamma", "residual"]
        )
        grouped = {id(p) for params in groups.values() for p in params}
        self.assertEqual(sum(len(p) for p in groups.values()), len(grouped))
        # what no stream owns: each layer's output LayerNorm and branch scale
        rest = {n for n, p in arch.named_parameters() if id(p) not in grouped}
        expected = {
            f"layers.{i}.{n}"
            for i in range(2)
            for n in ("norm.weight", "norm.bias", "branch_scale")
        }
        self.assertEqual(rest, expected)
        high = {id(p) for p in arch.layers[1].high_order.parameters()}
        self.assertTrue(high <= {id(p) for p in groups["beta"]})

    def test_stream_parameters_follow_the_switches(self) -> None:
        groups = _arch(low_order=False, fusion="concat").stream_parameters()
        self.assertEqual(sorted(groups), ["beta", "gamma", "residual"])

    def test_seed_determinism(self) -> None:
        dense, sparse = _inputs()
        torch.manual_seed(7)
        a = _arch()
        torch.manual_seed(7)
        b = _arch()
        torch.manual_seed(8)
        c = _arch()
        for (n, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
            self.assertTrue(torch.equal(pa, pb), n)
        out_a = a.eval()(dense_features=dense, sparse_features=sparse)
        self.assertTrue(
            torch.equal(out_a, b.eval()(dense_features=dense, sparse_features=sparse))
        )
        self.assertFalse(
            torch.allclose(
                out_a, c.eval()(dense_features=dense, sparse_features=sparse)
            )
        )

    def test_invalid_configuration(self) -> None:
        with self.assertRaisesRegex(ValueError, "num_layers"):
            _arch(num_layers=0)
        with self.assertRaisesRegex(ValueError, "token"):
            DLFInteractionArch(
                num_sparse_features=0, embedding_dim=D, num_dense_tokens=0
            )
        with self.assertRaisesRegex(ValueError, "divisible"):
            _arch(num_heads=3)
