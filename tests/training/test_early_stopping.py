import unittest

import torch

from torchrec_dlf.training.early_stopping import EarlyStopping


class EarlyStoppingTest(unittest.TestCase):
    def _optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)

    def test_patience_and_lr_decay(self) -> None:
        opt = self._optimizer()
        stopper = EarlyStopping(patience=2, lr_decay_factor=0.1)
        self.assertTrue(stopper.update(0.70, opt, step=1))
        self.assertTrue(stopper.update(0.75, opt, step=2))
        self.assertFalse(stopper.update(0.74, opt, step=3))
        self.assertAlmostEqual(opt.param_groups[0]["lr"], 1e-4)
        self.assertFalse(stopper.should_stop)
        self.assertTrue(
            stopper.update(0.76, opt, step=4)
        )  # improvement resets the count
        self.assertFalse(
            stopper.update(0.76, opt, step=5)
        )  # equal is not an improvement
        self.assertFalse(stopper.update(0.70, opt, step=6))
        self.assertTrue(stopper.should_stop)
        self.assertEqual(stopper.best, 0.76)
        self.assertEqual(stopper.best_step, 4)
        self.assertAlmostEqual(opt.param_groups[0]["lr"], 1e-6)  # floored at min_lr
        self.assertEqual(
            [h["improved"] for h in stopper.history],
            [True, True, False, True, False, False],
        )

    def test_state_round_trip(self) -> None:
        opt = self._optimizer()
        a = EarlyStopping()
        a.update(0.5, opt)
        a.update(0.4, opt)
        b = EarlyStopping()
        b.load_state_dict(a.state_dict())
        self.assertEqual((b.best, b.bad_evaluations, len(b.history)), (0.5, 1, 2))

    def test_patience_zero_never_stops(self) -> None:
        opt = self._optimizer()
        stopper = EarlyStopping(patience=0)
        for v in (0.5, 0.4, 0.3, 0.2):
            stopper.update(v, opt)
        self.assertFalse(stopper.should_stop)
