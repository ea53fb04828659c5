"""TensorBoard scalars of a training run, written by rank 0 under its output directory."""

import math
import os
from typing import Dict, Mapping, Optional

# <output_dir>/<run_name>/tensorboard/events.out.tfevents.*
TENSORBOARD_DIR = "tensorboard"


def tensorboard_dir(output_dir: str, run_name: str) -> str:
    return os.path.join(output_dir, run_name, TENSORBOARD_DIR)


class TensorBoardLog:
    """
    `torch.utils.tensorboard.SummaryWriter` for one run, with scalars grouped by a
    prefix (``train/loss``, ``lr/dense``, ``valid/auc`` ...). ``purge_step`` is the
    first step this process logs: TensorBoard then hides what earlier event files of
    the directory hold from that step on, i.e. what a killed run wrote past the
    checkpoint this one resumes from, or what an earlier run of the same name wrote
    (a fresh run), so every scalar shows one consistent curve.

    Args:
        log_dir (str): directory of the event files (created).
        purge_step (int): the first global step this process logs.

    Example::

        log = TensorBoardLog(tensorboard_dir("results", "run"), purge_step=1)
        log.scalars("train", {"loss": 0.45, "window_ne": 0.82}, step=100)
        log.close()
    """

    def __init__(self, log_dir: str, purge_step: int = 1) -> None:
        # Imported here: the tensorboard package is needed only when logging is on.
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = log_dir
        self._writer: Optional[SummaryWriter] = SummaryWriter(
            log_dir, purge_step=purge_step
        )

    def scalars(self, prefix: str, values: Mapping[str, float], step: int) -> None:
        """``<prefix>/<name>`` for each value (None and non-numbers are skipped)."""
        if self._writer is None:
            return
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isnan(value):
                continue
            self._writer.add_scalar(f"{prefix}/{name}", float(value), step)

    def gradient_norms(
        self, history: Mapping[str, list], start: int, prefix: str = "gradient_norm"
    ) -> int:
        """Writes the records of `GradientNormTracker.history` from index ``start``
        on at their own steps; returns the index to start from next time."""
        steps = history.get("step", [])
        for i in range(start, len(steps)):
            values: Dict[str, float] = {
                k: v[i] for k, v in history.items() if k != "step" and i < len(v)
            }
            self.scalars(prefix, values, int(steps[i]))
        return len(steps)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
