"""Data benchmark: preparation rows/s against torchrec's Criteo preprocessing, and loader
throughput against the training step rate, on a generated Criteo-format TSV.

    python -m torchrec_dlf.bench_data                # 1M rows (the reported configuration)
    python -m torchrec_dlf.bench_data --rows 20000 --train_steps 2 --smoke   # CI smoke run

Prints a table and writes ``bench_data.json`` into ``--output_dir``. Figures are wall
times of one run on one machine: compare the ratios, not the absolute numbers. Also
installed as ``torchrec-dlf-bench-data`` and run by ``launch/bench_data.py``.
"""

import argparse
import itertools
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

from torchrec_dlf.host_allocator import host_allocator_mode, keep_freed_host_memory

SCHEMA_VERSION = 1


def _time(fn) -> float:  # pyre-ignore[2]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_preparation(tsv: str, rows: int, work: str) -> Dict[str, Any]:
    """Both tools on the same file, timed in-process (imports excluded)."""
    from torchrec.datasets.criteo import BinaryCriteoUtils

    from torchrec_dlf.preprocessing.cli import main as prepare

    ours_dir = os.path.join(work, "prepared")
    ours = _time(
        lambda: prepare(
            ["criteo", tsv, "--output", ours_dir, "--quiet", "--checksum", "sha256"]
        )
    )
    npy = os.path.join(work, "npy")
    os.makedirs(npy, exist_ok=True)
    theirs = _time(
        lambda: BinaryCriteoUtils.tsv_to_npys(
            tsv,
            os.path.join(npy, "dense.npy"),
            os.path.join(npy, "sparse.npy"),
            os.path.join(npy, "labels.npy"),
            dataset_name="criteo_1tb",
        )
    )
    return {
        "rows": rows,
        "torchrec_dlf_seconds": ours,
        "torchrec_dlf_rows_per_second": rows / ours,
        "torchrec_tsv_to_npys_seconds": theirs,
        "torchrec_tsv_to_npys_rows_per_second": rows / theirs,
        "ratio": theirs / ours,
        "torchrec_dlf_does": "random 8:1:1 split, vocabularies (min count 10), log transform, "
        "sha256 of the input, Parquet",
        "torchrec_does": "parse to int arrays, log transform, .npy (no vocabulary, no split)",
        "prepared_dir": ours_dir,
    }


def bench_loader(dataset_dir: str, batch_size: int) -> Dict[str, Any]:
    from torchrec_dlf.data.parquet_loader import ParquetBatchLoader

    loader = ParquetBatchLoader(dataset_dir, "train", batch_size, shuffle=True, seed=0)
    start = time.perf_counter()
    batches = sum(1 for _ in loader)
    seconds = time.perf_counter() - start
    return {
        "batch_size": batch_size,
        "batches": batches,
        "seconds": seconds,
        "batches_per_second": batches / seconds,
        "samples_per_second": batches * batch_size / seconds,
    }


def bench_training(
    dataset_dir: str, batch_size: int, steps: int, precision: str
) -> Dict[str, Any]:
    """The trainer's step rate on batches already in memory (DLRM_DLF defaults)."""
    from torchrec_dlf.training.distributed import destroy_distributed, init_distributed
    from torchrec_dlf.training.model_factory import ModelConfig
    from torchrec_dlf.training.trainer import TrainConfig, Trainer

    ctx = init_distributed("cpu")
    try:
        config = TrainConfig(
            batch_size=batch_size, dense_precision=precision, print_progress=False
        )
        trainer = Trainer(ModelConfig(), config, dataset_dir, ctx)
        batches: List[Any] = list(
            itertools.islice(iter(trainer.train_loader), steps + 2)
        )
        trainer._train_segment(iter(batches[:2]), None)  # warm-up
        start = time.perf_counter()
        trainer._train_segment(iter(batches[2:]), None)
        seconds = time.perf_counter() - start
    finally:
        destroy_distributed()
    done = len(batches) - 2
    return {
        "model": "DLRM_DLF (defaults)",
        "dense_precision": precision,
        "steps": done,
        "seconds": seconds,
        "samples_per_second": done * batch_size / seconds,
    }


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--batch_size", type=int, default=4096)
    p.add_argument("--train_steps", type=int, default=20)
    p.add_argument("--output_dir", default=os.path.join("results", "bench_data"))
    p.add_argument(
        "--work_dir", default=None, help="scratch space (default: a temp dir)"
    )
    p.add_argument(
        "--smoke", action="store_true", help="tiny run for CI: checks, no targets"
    )
    return p.parse_args(argv)


def _host() -> Dict[str, Any]:
    return {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "host_allocator": host_allocator_mode(),
    }


def measure(args: argparse.Namespace, work: str) -> Dict[str, Any]:
    """Preparation, loader and training step rate on a generated TSV in ``work``."""
    from torchrec_dlf.preprocessing.sources.criteo import write_criteo_tsv

    tsv = os.path.join(work, "criteo.tsv")
    print(f"[bench_data] generating {args.rows:,} Criteo-format rows", flush=True)
    write_criteo_tsv(tsv, args.rows, seed=0)
    prep = bench_preparation(tsv, args.rows, work)
    print(
        f"[bench_data] preparation: torchrec_dlf {prep['torchrec_dlf_rows_per_second']:,.0f} "
        f"rows/s, torchrec tsv_to_npys {prep['torchrec_tsv_to_npys_rows_per_second']:,.0f} "
        f"rows/s -> {prep['ratio']:.1f}x",
        flush=True,
    )
    loader = bench_loader(prep["prepared_dir"], args.batch_size)
    print(
        f"[bench_data] loader: {loader['batches_per_second']:.1f} batches/s, "
        f"{loader['samples_per_second']:,.0f} samples/s at batch {args.batch_size}",
        flush=True,
    )
    training = {
        precision: bench_training(
            prep["prepared_dir"], args.batch_size, args.train_steps, precision
        )
        for precision in ("fp32", "bf16")
    }
    fastest = max(t["samples_per_second"] for t in training.values())
    return {
        "schema_version": SCHEMA_VERSION,
        "benchmark": "data",
        "host": _host(),
        "smoke": args.smoke,
        "preparation": prep,
        "loader": loader,
        "training": training,
        "ratios": {
            "preparation_vs_torchrec": prep["ratio"],
            "loader_vs_training": loader["samples_per_second"] / fastest,
        },
        "targets": {"preparation_vs_torchrec": 5.0, "loader_vs_training": 10.0},
    }


def _report(result: Dict[str, Any], output_dir: str) -> None:
    for precision, t in result["training"].items():
        print(
            f"[bench_data] training ({precision}): {t['samples_per_second']:,.0f} samples/s",
            flush=True,
        )
    print(
        f"[bench_data] ratios: preparation {result['ratios']['preparation_vs_torchrec']:.1f}x "
        f"torchrec (target 5x), loader {result['ratios']['loader_vs_training']:.1f}x the "
        f"fastest training step rate (target 10x)",
        flush=True,
    )
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, "bench_data.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"[bench_data] written to {os.path.abspath(path)}")


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    keep_freed_host_memory()

    from torchrec_dlf.training.quiet import quiet_library_messages

    quiet_library_messages()
    work = args.work_dir or tempfile.mkdtemp(prefix="bench_data_")
    os.makedirs(work, exist_ok=True)
    try:
        _report(measure(args, work), args.output_dir)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
