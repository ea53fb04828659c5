import unittest

import torch
from torchrec.models.dlrm import OverArch

from torchrec_dlf.modules.over_arch import build_over_arch, placeholder_over_arch_sizes


class BuildOverArchTest(unittest.TestCase):
    def test_mlp_head_is_torchrecs_over_arch(self) -> None:
        head = build_over_arch(12, [8, 1])
        self.assertIsInstance(head, OverArch)
        self.assertEqual(head(torch.rand(3, 12)).shape, (3, 1))

    def test_linear_head(self) -> None:
        head = build_over_arch(12, [1], xavier=True)
        self.assertIsInstance(head, torch.nn.Linear)
        self.assertTrue(torch.equal(head.bias, torch.zeros(1)))
        self.assertEqual(head(torch.rand(3, 12)).shape, (3, 1))

    def test_must_end_with_one_logit(self) -> None:
        with self.assertRaisesRegex(ValueError, "must end with 1"):
            build_over_arch(12, [8, 2])

    def test_placeholder_sizes(self) -> None:
        self.assertEqual(placeholder_over_arch_sizes([1]), [1, 1])
        self.assertEqual(placeholder_over_arch_sizes([8, 1]), [8, 1])


if __name__ == "__main__":
    unittest.main()
