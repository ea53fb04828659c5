"""Where the training loop stops to validate, checkpoint or stop: pure arithmetic on
batch and step counts, the same for an uninterrupted run and a resumed one."""

from dataclasses import dataclass
from typing import Iterator, Optional


@dataclass(frozen=True)
class Boundary:
    """
    What is due where a training segment ends (the pipeline is drained there).

    Args:
        batch (int): batches of the epoch done.
        global_step (int): training steps done.
        validate (bool): a validation point (or the end of the epoch).
        checkpoint (bool): a step checkpoint is due (an early stop adds one).
        interrupt (bool): ``stop_after`` is reached: stop as if preempted.
        epoch_end (bool): the epoch is done.
    """

    batch: int
    global_step: int
    validate: bool
    checkpoint: bool
    interrupt: bool
    epoch_end: bool


@dataclass(frozen=True)
class StepSchedule:
    """
    The training loop runs the pipeline in segments that end at the next validation
    point (every ``validation_every`` batches of an epoch), checkpoint step (every
    ``checkpoint_every`` global steps), the ``stop_after`` step or the epoch's end,
    whichever comes first. Segment ends depend on batch and step counts only, so a run
    resumed from a checkpoint drains the pipeline where an uninterrupted one does (what
    makes resumption exact).

    Args:
        validation_every (Optional[int]): validate every N batches within an epoch
            (always at its end).
        checkpoint_every (Optional[int]): checkpoint every N global steps (always at
            the end of an epoch).
        checkpoints (bool): whether the job writes checkpoints at all (without them
            ``checkpoint_every`` is ignored).
        stop_after (Optional[int]): stop as if preempted after this global step.
        limit_batches (Optional[int]): at most this many batches per epoch.

    Example::

        schedule = StepSchedule(validation_every=20, checkpoint_every=15, checkpoints=True)
        [b.batch for b in schedule.boundaries(0, 40, global_step=0)]  # [15, 20, 30, 40]
    """

    validation_every: Optional[int] = None
    checkpoint_every: Optional[int] = None
    checkpoints: bool = False
    stop_after: Optional[int] = None
    limit_batches: Optional[int] = None

    def epoch_batches(self, available: int) -> int:
        """Batches trained per epoch when the loader has ``available``."""
        if self.limit_batches is None:
            return available
        return min(available, self.limit_batches)

    def next_boundary(self, done: int, num_batches: int, global_step: int) -> int:
        """End (in batches of the epoch) of the segment that starts after ``done`` of
        ``num_batches`` batches, at ``global_step``; always past ``done``."""
        end = num_batches
        every = self.validation_every
        if every:
            end = min(end, (done // every + 1) * every)
        if self.checkpoints and self.checkpoint_every:
            to_checkpoint = self.checkpoint_every - global_step % self.checkpoint_every
            end = min(end, done + to_checkpoint)
        stop = self.stop_after
        if stop is not None and stop > global_step:
            end = min(end, done + stop - global_step)
        return end

    def due(self, done: int, num_batches: int, global_step: int) -> Boundary:
        """What is due once ``done`` batches of the epoch and ``global_step`` steps
        are done."""
        epoch_end = done == num_batches
        every = self.validation_every
        interrupt = self.stop_after is not None and global_step >= self.stop_after
        checkpoint_step = bool(
            self.checkpoint_every and global_step % self.checkpoint_every == 0
        )
        return Boundary(
            batch=done,
            global_step=global_step,
            validate=epoch_end or bool(every and done % every == 0),
            checkpoint=self.checkpoints and (epoch_end or checkpoint_step or interrupt),
            interrupt=interrupt,
            epoch_end=epoch_end,
        )

    def boundaries(
        self, start: int, num_batches: int, global_step: int
    ) -> Iterator[Boundary]:
        """The segment ends of an epoch of ``num_batches`` entered after ``start``
        batches at ``global_step`` (one step per batch), up to an interruption; what
        the training loop does when no early stop cuts the epoch short."""
        done = start
        while done < num_batches:
            end = self.next_boundary(done, num_batches, global_step)
            global_step += end - done
            done = end
            boundary = self.due(done, num_batches, global_step)
            yield boundary
            if boundary.interrupt:
                return


def rescaled_batch_in_epoch(batch: int, saved_world_size: int, world_size: int) -> int:
    """Where a resumed run continues an epoch a checkpoint left after ``batch`` batches.

    Rank shares of an epoch depend on the world size: with another one, the run
    continues from the same fraction of the epoch (exact continuation needs the same
    world size)."""
    if saved_world_size == world_size or not batch:
        return batch
    return batch * saved_world_size // world_size
