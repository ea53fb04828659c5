import unittest

import torch
import torchrec

from torchrec_dlf.modules.deep_mlp import DeepMLP


class DeepMLPTest(unittest.TestCase):
    def test_layers_and_shape(self) -> None:
        mlp = DeepMLP(6, [5, 4], dropout=0.2)
        self.assertEqual(mlp(torch.rand(3, 6)).shape, (3, 4))
        self.assertEqual(
            [type(m).__name__ for m in mlp.model],
            ["Linear", "BatchNorm1d", "ReLU", "Dropout"] * 2,
        )

    def test_xavier_init_zero_bias(self) -> None:
        torch.manual_seed(0)
        linear = DeepMLP(400, [400]).model[0]
        self.assertTrue(torch.equal(linear.bias, torch.zeros(400)))
        # xavier normal: std = sqrt(2 / (fan_in + fan_out)) = 0.05
        self.assertAlmostEqual(linear.weight.std().item(), 0.05, delta=0.001)

    def test_fx_and_script(self) -> None:
        mlp = DeepMLP(6, [5, 4]).eval()
        x = torch.rand(3, 6)
        scripted = torch.jit.script(torchrec.fx.symbolic_trace(mlp))
        torch.testing.assert_close(scripted(x), mlp(x))


if __name__ == "__main__":
    unittest.main()
