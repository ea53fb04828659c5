import unittest

import torch
import torchrec

from torchrec_dlf.modules.factorization_machine import FieldFactorizationMachine


class FieldFactorizationMachineTest(unittest.TestCase):
    def test_sum_of_field_pair_inner_products(self) -> None:
        tokens = torch.randn(4, 5, 3)
        expected = sum(
            (tokens[:, i] * tokens[:, j]).sum(-1)
            for i in range(5)
            for j in range(i + 1, 5)
        )
        out = FieldFactorizationMachine()(tokens)
        self.assertEqual(out.shape, (4, 1))
        torch.testing.assert_close(out[:, 0], expected)

    def test_one_field_has_no_pairs(self) -> None:
        out = FieldFactorizationMachine()(torch.randn(2, 1, 8))
        torch.testing.assert_close(out, torch.zeros(2, 1), atol=1e-6, rtol=0)

    def test_fx_and_script(self) -> None:
        fm = FieldFactorizationMachine()
        x = torch.randn(3, 4, 8)
        scripted = torch.jit.script(torchrec.fx.symbolic_trace(fm))
        torch.testing.assert_close(scripted(x), fm(x))


if __name__ == "__main__":
    unittest.main()
