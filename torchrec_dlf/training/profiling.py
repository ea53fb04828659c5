"""``--profile``: a torch.profiler trace of a few training steps."""

import os
from typing import Optional

import torch
from torch.profiler import ProfilerActivity

# <output_dir>/<run_name>/profile/rank<r>.<time>.pt.trace.json (Chrome trace format,
# read by chrome://tracing, Perfetto and TensorBoard's profiler plugin).
PROFILE_DIR = "profile"
# Steps skipped, warmed up (recorded, discarded) and recorded.
WAIT_STEPS, WARMUP_STEPS, ACTIVE_STEPS = 1, 1, 3


def profile_dir(output_dir: str, run_name: str) -> str:
    return os.path.join(output_dir, run_name, PROFILE_DIR)


class StepProfiler:
    """
    Profiles training steps ``WAIT_STEPS + WARMUP_STEPS + 1`` to ``... + ACTIVE_STEPS``
    of this process (CPU, and CUDA kernels on a GPU) and writes one trace per rank
    when they are done (or at `stop`, if training ends first); `step` after each
    training step. The profiler is stopped once the trace is written, so the rest of
    training runs without it.

    Args:
        trace_dir (str): where the traces go (created).
        rank (int): names the trace (``rank<r>``).
        device (torch.device): CUDA activity is recorded on a GPU.
    """

    def __init__(self, trace_dir: str, rank: int, device: torch.device) -> None:
        activities = [ProfilerActivity.CPU]
        if device.type == "cuda":
            activities.append(ProfilerActivity.CUDA)
        self.trace_dir = trace_dir
        self._steps_left = WAIT_STEPS + WARMUP_STEPS + ACTIVE_STEPS
        self._profiler: Optional[torch.profiler.profile] = torch.profiler.profile(
            activities=activities,
            schedule=torch.profiler.schedule(
                wait=WAIT_STEPS, warmup=WARMUP_STEPS, active=ACTIVE_STEPS, repeat=1
            ),
            on_trace_ready=torch.profiler.tensorboard_trace_handler(
                trace_dir, worker_name=f"rank{rank}"
            ),
        )
        self._profiler.start()

    def step(self) -> None:
        if self._profiler is None:
            return
        self._profiler.step()
        self._steps_left -= 1
        if self._steps_left == 0:
            self.stop()

    def stop(self) -> None:
        """Ends profiling (writing the trace of the steps recorded so far)."""
        if self._profiler is not None:
            self._profiler.stop()
            self._profiler = None
