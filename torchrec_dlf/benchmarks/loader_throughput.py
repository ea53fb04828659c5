"""
Parquet loader throughput: the background thread against DataLoader worker processes.

One training epoch of ``ParquetBatchLoader`` (shuffled, as ``launch/bench_data.py``
measures it) per loader setting, the settings taken in turn for several rounds so a
machine whose speed drifts slows them alike; the medians and their ratios to the
thread (``loader_workers=0``) are reported. ``--consumer_ms`` makes the consumer hold
the GIL for that long per batch, as a Python-heavy training step would::

    python -m torchrec_dlf.benchmarks.loader_throughput DATASET_DIR --workers 0 1 2
"""

import argparse
import json
import statistics
import sys
import time
from typing import Any, Dict, List, Optional

from torchrec_dlf.data.parquet_loader import ParquetBatchLoader


def _hold_gil(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def measure_loader(
    dataset_dir: str,
    batch_size: int,
    loader_workers: int = 0,
    consumer_ms: float = 0.0,
) -> Dict[str, Any]:
    """One shuffled epoch of the train split; batches/s and samples/s."""
    loader = ParquetBatchLoader(
        dataset_dir,
        "train",
        batch_size,
        shuffle=True,
        seed=0,
        loader_workers=loader_workers,
    )
    start = time.perf_counter()
    batches = samples = 0
    for batch in loader:
        batches += 1
        samples += batch.labels.numel()
        _hold_gil(consumer_ms / 1000)
    seconds = time.perf_counter() - start
    return {
        "loader_workers": loader_workers,
        "batch_size": batch_size,
        "batches": batches,
        "seconds": seconds,
        "batches_per_second": batches / seconds,
        "samples_per_second": samples / seconds,
    }


def compare_loaders(
    dataset_dir: str,
    batch_size: int,
    workers: List[int],
    rounds: int = 3,
    consumer_ms: float = 0.0,
) -> Dict[str, Any]:
    """Every setting of ``workers`` once per round; medians and ratios to the first."""
    seconds: Dict[int, List[float]] = {w: [] for w in workers}
    for _ in range(rounds):
        for w in workers:
            run = measure_loader(dataset_dir, batch_size, w, consumer_ms)
            seconds[w].append(run["seconds"])
    batches = len(ParquetBatchLoader(dataset_dir, "train", batch_size))
    base = statistics.median(seconds[workers[0]])
    settings = {}
    for w in workers:
        median = statistics.median(seconds[w])
        settings[str(w)] = {
            "seconds": seconds[w],
            "median_seconds": median,
            "batches_per_second": batches / median,
            "speed_vs_first": base / median,
        }
    return {
        "batch_size": batch_size,
        "batches": batches,
        "rounds": rounds,
        "consumer_ms": consumer_ms,
        "loader_workers": settings,
    }


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[1], allow_abbrev=False
    )
    p.add_argument("dataset_dir", help="a prepared dataset")
    p.add_argument("--batch_size", type=int, default=4096)
    p.add_argument(
        "--workers", type=int, nargs="+", default=[0, 2], help="loader_workers values"
    )
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--consumer_ms", type=float, default=0.0)
    p.add_argument("--json", default=None, help="also write the result here")
    args = p.parse_args(argv)
    result = compare_loaders(
        args.dataset_dir, args.batch_size, args.workers, args.rounds, args.consumer_ms
    )
    for w, r in result["loader_workers"].items():
        print(
            f"[loader] loader_workers={w}: {r['batches_per_second']:.1f} batches/s "
            f"(median of {args.rounds}), {r['speed_vs_first']:.2f}x loader_workers="
            f"{args.workers[0]}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
