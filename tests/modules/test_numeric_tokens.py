import unittest

import torch
import torchrec

from torchrec_dlf.modules.numeric_tokens import (
    EmptyDenseArch,
    NumericFieldEmbeddingArch,
    single_dense_token,
)


class NumericFieldEmbeddingArchTest(unittest.TestCase):
    def test_one_linear_per_field(self) -> None:
        arch = NumericFieldEmbeddingArch(3, 4)
        x = torch.randn(5, 3)
        out = arch(x).reshape(5, 3, 4)
        for i in range(3):
            torch.testing.assert_close(
                out[:, i], x[:, i : i + 1] * arch.weight[i] + arch.bias[i]
            )

    def test_fx_and_script(self) -> None:
        arch = NumericFieldEmbeddingArch(3, 4)
        x = torch.randn(5, 3)
        torch.testing.assert_close(torchrec.fx.symbolic_trace(arch)(x), arch(x))
        torch.testing.assert_close(torch.jit.script(arch)(x), arch(x))


class EmptyDenseArchTest(unittest.TestCase):
    def test_no_token(self) -> None:
        arch = EmptyDenseArch()
        self.assertEqual(arch(torch.rand(4, 0)).shape, (4, 0))
        self.assertEqual(torch.jit.script(arch)(torch.rand(4, 2)).shape, (4, 0))
        self.assertEqual(
            torchrec.fx.symbolic_trace(arch)(torch.rand(4, 0)).shape, (4, 0)
        )


class SingleDenseTokenTest(unittest.TestCase):
    def test_one_token_keeps_the_dense_arch(self) -> None:
        model = torch.nn.Module()
        model.dense_arch = torch.nn.Linear(3, 8)
        self.assertEqual(single_dense_token(model, 3), 1)
        self.assertIsInstance(model.dense_arch, torch.nn.Linear)

    def test_no_numeric_fields_empties_the_dense_arch(self) -> None:
        model = torch.nn.Module()
        model.dense_arch = torch.nn.Linear(1, 8)
        self.assertEqual(single_dense_token(model, 0), 0)
        self.assertIsInstance(model.dense_arch, EmptyDenseArch)
        self.assertEqual(model.dense_arch(torch.rand(4, 0)).shape, (4, 0))
