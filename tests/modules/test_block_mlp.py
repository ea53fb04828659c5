import unittest

import torch
import torchrec

from torchrec_dlf.modules.block_mlp import BlockMLP


class BlockMLPTest(unittest.TestCase):
    def test_shape_and_layers(self) -> None:
        mlp = BlockMLP(12, 32, 20, dropout=0.1)
        self.assertEqual(mlp(torch.rand(5, 12)).shape, (5, 20))
        kinds = [type(m) for m in mlp.model]
        self.assertEqual(
            kinds,
            [
                torch.nn.Linear,
                torch.nn.LayerNorm,
                torch.nn.ReLU,
                torch.nn.Dropout,
                torch.nn.Linear,
            ],
        )
        batch = BlockMLP(12, 32, 20, norm="batch")
        self.assertIsInstance(batch.model[1], torch.nn.BatchNorm1d)

    def test_numerics_layer_norm(self) -> None:
        torch.manual_seed(0)
        mlp = BlockMLP(6, 8, 3).train()
        x = torch.randn(4, 6)
        lin1, ln, _, _, lin2 = mlp.model
        h = lin1(x)
        h = (h - h.mean(-1, keepdim=True)) / torch.sqrt(
            h.var(-1, unbiased=False, keepdim=True) + ln.eps
        )
        torch.testing.assert_close(mlp(x), lin2(torch.relu(h * ln.weight + ln.bias)))

    def test_numerics_batch_norm_eval_mode(self) -> None:
        torch.manual_seed(0)
        mlp = BlockMLP(6, 8, 3, norm="batch").eval()
        x = torch.randn(4, 6)
        lin1, bn, _, _, lin2 = mlp.model
        hidden = torch.relu(
            (lin1(x) - bn.running_mean)
            / torch.sqrt(bn.running_var + bn.eps)
            * bn.weight
            + bn.bias
        )
        torch.testing.assert_close(mlp(x), lin2(hidden))

    def test_layer_norm_has_no_buffers_and_takes_a_batch_of_one(self) -> None:
        mlp = BlockMLP(6, 8, 3).train()
        self.assertEqual(list(mlp.buffers()), [])
        one = torch.randn(1, 6)
        out = mlp(one)
        out.sum().backward()
        # Per sample: the same row scores the same alone and inside a batch.
        batch = torch.cat([one, torch.randn(5, 6)])
        torch.testing.assert_close(mlp(batch)[:1], out)
        with self.assertRaisesRegex(
            ValueError, "Expected more than 1 value per channel"
        ):
            BlockMLP(6, 8, 3, norm="batch").train()(one)

    def test_unknown_norm(self) -> None:
        with self.assertRaisesRegex(ValueError, "norm must be one of"):
            BlockMLP(6, 8, 3, norm="rms")

    def test_fx_and_script(self) -> None:
        for norm in ("layer", "batch"):
            mlp = BlockMLP(6, 8, 3, norm=norm).eval()
            x = torch.randn(4, 6)
            torch.testing.assert_close(torchrec.fx.symbolic_trace(mlp)(x), mlp(x))
            torch.testing.assert_close(torch.jit.script(mlp)(x), mlp(x))


if __name__ == "__main__":
    unittest.main()
