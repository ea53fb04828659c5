import unittest

import torch
import torchrec

from torchrec_dlf.modules.gated_residual import GatedResidual


class GatedResidualTest(unittest.TestCase):
    def test_plain_identity_when_sizes_match(self) -> None:
        residual = GatedResidual(6, 6, 4, gate=False)
        x = torch.randn(2, 6, 4)
        torch.testing.assert_close(residual(x), x)
        self.assertEqual(residual.projection.numel(), 0)
        self.assertEqual(len(list(residual.parameters())), 0)

    def test_projection_when_sizes_differ(self) -> None:
        residual = GatedResidual(6, 9, 4, gate=False)
        x = torch.randn(2, 6, 4)
        torch.testing.assert_close(
            residual(x), torch.einsum("on,bnd->bod", residual.projection, x)
        )

    def test_gate_starts_half_open_and_is_per_token(self) -> None:
        residual = GatedResidual(6, 6, 4, gate=True)
        x = torch.randn(2, 6, 4)
        torch.testing.assert_close(residual(x), 0.5 * x)
        with torch.no_grad():
            residual.gate.weight.normal_()
        gate = torch.sigmoid(residual.gate(x))  # 2 x 6 x 1: one value per token
        torch.testing.assert_close(residual(x), gate * x)
        self.assertEqual(gate.shape, (2, 6, 1))

    def test_fx_and_script(self) -> None:
        for gate in (True, False):
            for n_out in (6, 8):
                residual = GatedResidual(6, n_out, 4, gate=gate)
                x = torch.randn(2, 6, 4)
                torch.testing.assert_close(
                    torchrec.fx.symbolic_trace(residual)(x), residual(x)
                )
                torch.testing.assert_close(torch.jit.script(residual)(x), residual(x))
