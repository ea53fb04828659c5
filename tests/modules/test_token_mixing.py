import unittest

import torch
import torchrec

from torchrec_dlf.modules.token_mixing import TokenMixingBlock


class TokenMixingBlockTest(unittest.TestCase):
    def test_linear_numerics(self) -> None:
        torch.manual_seed(0)
        block = TokenMixingBlock(5, 3, 4, activation=False)
        x = torch.randn(2, 5, 4)
        torch.testing.assert_close(
            block(x), torch.einsum("on,bnd->bod", block.weight, x)
        )
        self.assertFalse(block.bias.requires_grad)

    def test_activated_numerics(self) -> None:
        torch.manual_seed(0)
        block = TokenMixingBlock(5, 3, 4, activation=True)
        with torch.no_grad():
            block.bias.normal_()
        x = torch.randn(2, 5, 4)
        expected = torch.relu(torch.einsum("on,bnd->bod", block.weight, x) + block.bias)
        torch.testing.assert_close(block(x), expected)
        self.assertTrue(block.bias.requires_grad)

    def test_fx_and_script(self) -> None:
        for activation in (True, False):
            block = TokenMixingBlock(5, 3, 4, activation=activation)
            x = torch.randn(2, 5, 4)
            torch.testing.assert_close(torchrec.fx.symbolic_trace(block)(x), block(x))
            torch.testing.assert_close(torch.jit.script(block)(x), block(x))

    def test_mixes_across_tokens_not_batch(self) -> None:
        block = TokenMixingBlock(5, 3, 4, activation=False)
        x = torch.randn(3, 5, 4)
        y = x.clone()
        y[1] += 1.0
        torch.testing.assert_close(block(x)[0], block(y)[0])
        torch.testing.assert_close(block(x)[2], block(y)[2])
