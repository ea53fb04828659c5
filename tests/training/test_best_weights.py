import unittest

import torch

from torchrec_dlf.training.best_weights import BestWeights


class BestWeightsTest(unittest.TestCase):
    def test_in_memory_copy_is_restored(self) -> None:
        model = torch.nn.Linear(3, 2)
        best = BestWeights(model, checkpoints=None)
        best.keep({"step": 1})
        kept = model.weight.detach().clone()
        with torch.no_grad():
            model.weight.add_(1.0)
        best.restore()
        self.assertTrue(torch.equal(model.weight, kept))

    def test_restore_without_keep_changes_nothing(self) -> None:
        model = torch.nn.Linear(3, 2)
        before = model.weight.detach().clone()
        BestWeights(model, checkpoints=None).restore()
        self.assertTrue(torch.equal(model.weight, before))


if __name__ == "__main__":
    unittest.main()
