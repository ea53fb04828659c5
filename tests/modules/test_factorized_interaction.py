import unittest

import torch
import torchrec

from torchrec_dlf.modules.factorized_interaction import FactorizedInteractionBlock


def _block(**kw) -> FactorizedInteractionBlock:
    args = dict(
        num_left_tokens=3,
        num_right_tokens=5,
        embedding_dim=4,
        rank=2,
        num_output_tokens=6,
        mlp_hidden_features=8,
    )
    args.update(kw)
    return FactorizedInteractionBlock(**args)


class FactorizedInteractionBlockTest(unittest.TestCase):
    def test_shape(self) -> None:
        block = _block()
        out = block(torch.rand(7, 3, 4), torch.rand(7, 5, 4))
        self.assertEqual(out.shape, (7, 6, 4))

    def test_numerics_against_per_sample_formula(self) -> None:
        torch.manual_seed(1)
        block = _block().eval()
        left, right = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
        expected = []
        for b in range(2):
            # L . (R^T W): (3 x 4) @ (4 x 5) @ (5 x 2) -> 3 x 2
            inter = left[b] @ right[b].T @ block.projection
            flat = block.norm(inter.reshape(1, -1))
            expected.append(block.mlp(flat).reshape(6, 4))
        torch.testing.assert_close(
            block(left, right), torch.stack(expected), rtol=1e-5, atol=1e-5
        )

    def test_left_operand_is_used(self) -> None:
        # alpha re-injects E^(1): changing only the left input must change the output.
        torch.manual_seed(2)
        block = _block().eval()
        right = torch.randn(2, 5, 4)
        a = block(torch.randn(2, 3, 4), right)
        b = block(torch.randn(2, 3, 4), right)
        self.assertFalse(torch.allclose(a, b))

    def test_fx_and_script(self) -> None:
        block = _block().eval()
        left, right = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
        torch.testing.assert_close(
            torchrec.fx.symbolic_trace(block)(left, right), block(left, right)
        )
        torch.testing.assert_close(
            torch.jit.script(block)(left, right), block(left, right)
        )

    def test_gradients_reach_every_parameter(self) -> None:
        block = _block()
        block(torch.randn(4, 3, 4), torch.randn(4, 5, 4)).square().sum().backward()
        for name, p in block.named_parameters():
            self.assertIsNotNone(p.grad, name)
            self.assertGreater(p.grad.abs().sum().item(), 0, name)

    def test_single_token_edge_case(self) -> None:
        block = _block(num_left_tokens=1, num_right_tokens=1, num_output_tokens=1)
        self.assertEqual(
            block(torch.rand(3, 1, 4), torch.rand(3, 1, 4)).shape, (3, 1, 4)
        )
