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
            [torch.nn.Linear, torch.nn.BatchNorm1d, torch.nn.ReLU, torch.nn.Dropout, torch.nn.Linear],
        )

    def test_numerics_eval_mode(self) -> None:
        torch.manual_seed(0)
        mlp = BlockMLP(6, 8, 3).eval()
        x = torch.randn(4, 6)
        lin1, bn, _, _, lin2 = mlp.model
        hidden = torch.relu(
            (lin1(x) - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight
            + bn.bias
        )
        torch.testing.assert_close(mlp(x), lin2(hidden))

    def test_fx_and_script(self) -> None:
        mlp = BlockMLP(6, 8, 3).eval()
        x = torch.randn(4, 6)
        torch.testing.assert_close(torchrec.fx.symbolic_trace(mlp)(x), mlp(x))
        torch.testing.assert_close(torch.jit.script(mlp)(x), mlp(x))
