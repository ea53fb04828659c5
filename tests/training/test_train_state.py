import dataclasses
import unittest

from torchrec_dlf.training.train_state import TrainerState, TrainingInterrupted


class TrainerStateTest(unittest.TestCase):
    def test_round_trip_ignores_other_keys(self) -> None:
        state = TrainerState(epoch=1, batch_in_epoch=3, global_step=7, loss_sum=0.5)
        saved = {**dataclasses.asdict(state), "stopper": {}, "world_size": 2}
        self.assertEqual(TrainerState.from_dict(saved), state)


class TrainingInterruptedTest(unittest.TestCase):
    def test_message_and_step(self) -> None:
        stop = TrainingInterrupted(11)
        self.assertEqual((str(stop), stop.step), ("stopped after step 11", 11))


if __name__ == "__main__":
    unittest.main()
