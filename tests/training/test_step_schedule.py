"""The step schedule alone: where segments end and what is due there, no process group."""

import unittest
from typing import List, Tuple

from torchrec_dlf.training.step_schedule import (
    Boundary,
    StepSchedule,
    rescaled_batch_in_epoch,
)


def _ends(
    schedule: StepSchedule, start: int, num_batches: int, step: int
) -> List[Tuple[int, int]]:
    return [
        (b.batch, b.global_step) for b in schedule.boundaries(start, num_batches, step)
    ]


class StepScheduleTest(unittest.TestCase):
    def test_one_segment_per_epoch_by_default(self) -> None:
        (end,) = StepSchedule().boundaries(0, 10, global_step=0)
        self.assertEqual(
            end,
            Boundary(
                batch=10,
                global_step=10,
                validate=True,
                checkpoint=False,
                interrupt=False,
                epoch_end=True,
            ),
        )

    def test_validation_points_within_the_epoch(self) -> None:
        schedule = StepSchedule(validation_every=4)
        ends = list(schedule.boundaries(0, 10, global_step=0))
        self.assertEqual([b.batch for b in ends], [4, 8, 10])
        self.assertTrue(all(b.validate for b in ends))
        self.assertEqual([b.epoch_end for b in ends], [False, False, True])

    def test_checkpoint_steps_count_global_steps(self) -> None:
        # The second epoch starts at step 10: checkpoints at steps 15 and 20 and at its end.
        schedule = StepSchedule(
            validation_every=20, checkpoint_every=5, checkpoints=True
        )
        ends = list(schedule.boundaries(0, 12, global_step=10))
        self.assertEqual(
            [(b.batch, b.global_step) for b in ends], [(5, 15), (10, 20), (12, 22)]
        )
        self.assertEqual([b.checkpoint for b in ends], [True, True, True])
        self.assertEqual([b.validate for b in ends], [False, False, True])

    def test_checkpoint_steps_need_checkpoints(self) -> None:
        schedule = StepSchedule(checkpoint_every=3, checkpoints=False)
        self.assertEqual(_ends(schedule, 0, 10, 0), [(10, 10)])
        self.assertFalse(schedule.due(10, 10, 10).checkpoint)

    def test_epoch_end_checkpoints(self) -> None:
        schedule = StepSchedule(validation_every=4, checkpoints=True)
        self.assertEqual(
            [b.checkpoint for b in schedule.boundaries(0, 10, 0)], [False, False, True]
        )

    def test_stop_after_interrupts_with_a_checkpoint(self) -> None:
        schedule = StepSchedule(
            validation_every=6, checkpoint_every=7, checkpoints=True, stop_after=11
        )
        ends = list(schedule.boundaries(0, 16, global_step=0))
        self.assertEqual(
            [(b.batch, b.global_step) for b in ends], [(6, 6), (7, 7), (11, 11)]
        )
        last = ends[-1]
        self.assertTrue(last.interrupt and last.checkpoint)
        self.assertFalse(last.validate)

    def test_stop_after_without_checkpoints(self) -> None:
        last = list(StepSchedule(stop_after=3).boundaries(0, 10, 0))[-1]
        self.assertEqual(
            (last.batch, last.interrupt, last.checkpoint), (3, True, False)
        )

    def test_stop_already_reached_stops_after_the_next_segment(self) -> None:
        ends = _ends(StepSchedule(validation_every=4, stop_after=2), 0, 10, 5)
        self.assertEqual(ends, [(4, 9)])

    def test_resumed_epoch_ends_where_the_uninterrupted_one_does(self) -> None:
        schedule = StepSchedule(
            validation_every=6, checkpoint_every=7, checkpoints=True
        )
        whole = _ends(schedule, 0, 16, 0)
        self.assertEqual(whole, [(6, 6), (7, 7), (12, 12), (14, 14), (16, 16)])
        # Resumed from the checkpoint at step 7 (batch 7 of the same epoch).
        self.assertEqual(_ends(schedule, 7, 16, 7), whole[2:])
        # Resumed in the second epoch, which started at step 16: checkpoints count
        # global steps (21 + 7 = 28), validations batches of the epoch.
        self.assertEqual(_ends(schedule, 5, 16, 21), [(6, 22), (12, 28), (16, 32)])

    def test_segments_always_advance(self) -> None:
        schedule = StepSchedule(
            validation_every=1, checkpoint_every=1, checkpoints=True
        )
        for done in range(5):
            self.assertEqual(schedule.next_boundary(done, 5, done), done + 1)

    def test_epoch_batches(self) -> None:
        self.assertEqual(StepSchedule().epoch_batches(12), 12)
        self.assertEqual(StepSchedule(limit_batches=5).epoch_batches(12), 5)
        self.assertEqual(StepSchedule(limit_batches=50).epoch_batches(12), 12)

    def test_empty_epoch_has_no_boundary(self) -> None:
        self.assertEqual(list(StepSchedule(validation_every=2).boundaries(0, 0, 0)), [])


class RescaledBatchInEpochTest(unittest.TestCase):
    def test_same_world_size_continues_exactly(self) -> None:
        self.assertEqual(rescaled_batch_in_epoch(7, 2, 2), 7)

    def test_other_world_size_keeps_the_fraction(self) -> None:
        self.assertEqual(rescaled_batch_in_epoch(7, 2, 4), 3)
        self.assertEqual(rescaled_batch_in_epoch(3, 4, 2), 6)

    def test_epoch_start_stays(self) -> None:
        self.assertEqual(rescaled_batch_in_epoch(0, 2, 4), 0)


if __name__ == "__main__":
    unittest.main()
