"""Step timing with warm-up and percentiles."""

import statistics
import time
from typing import Callable, Dict, List

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(
    step: Callable[[], object],
    device: torch.device,
    warmup: int = 2,
    steps: int = 10,
) -> Dict[str, float]:
    """
    Runs ``step`` ``warmup`` times untimed, then ``steps`` times timed one by one.

    Returns:
        Dict[str, float]: p50, p90, mean and min step time in seconds, and the steps.
    """
    for _ in range(warmup):
        step()
    synchronize(device)
    times: List[float] = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    ordered = sorted(times)
    p90_index = min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))
    return {
        "p50_s": statistics.median(ordered),
        "p90_s": ordered[p90_index],
        "mean_s": statistics.fmean(ordered),
        "min_s": ordered[0],
        "steps": float(len(ordered)),
    }
