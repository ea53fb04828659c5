"""Embedding benchmark: EmbeddingBagCollection lookup throughput with FBGEMM's fused
kernels through DMP (each sharding type), TorchRec's unsharded EBC and plain
torch.nn.EmbeddingBag, forward and forward+backward (with the optimizer update), swept
over batch size, pooling factor, dimension, tables, rows and Zipf skew, against the
machine's copy and random-gather bandwidth measured in the same run.

    python -m torchrec_dlf.bench_embeddings               # CPU, one rank
    torchx run dist.ddp -j 1x2 -m torchrec_dlf.bench_embeddings -- --preset small
    python -m torchrec_dlf.bench_embeddings --device cuda --preset gpu_check

Writes bench_embeddings.json and bench_embeddings.png into --output_dir (rank 0). Also
installed as ``torchrec-dlf-bench-embeddings`` and run by ``launch/bench_embeddings.py``.
"""

import argparse
import gc
import json
import os
import platform
import sys
from dataclasses import replace
from typing import Any, Callable, Dict, List, Optional

import torch

from torchrec_dlf.benchmarks.embedding_throughput import (
    EmbeddingConfig,
    fused_sharded,
    measure,
    plain_embedding_bags,
    unsharded_ebc,
)
from torchrec_dlf.benchmarks.machine_limits import (
    copy_bandwidth,
    random_gather_bandwidth,
)
from torchrec_dlf.host_allocator import host_allocator_mode, keep_freed_host_memory
from torchrec_dlf.training.distributed import destroy_distributed, init_distributed
from torchrec_dlf.training.quiet import quiet_library_messages

SCHEMA_VERSION = 1
SHARDINGS = ["table_wise", "row_wise", "column_wise", "table_row_wise", "data_parallel"]
PRESETS: Dict[str, Dict[str, Any]] = {
    "default": dict(
        base=EmbeddingConfig(),
        sweeps={
            "batch_size": [1024, 4096, 16384],
            "pooling": [1, 5],
            "dim": [16, 128],
            "tables": [4, 16],
            "rows": [100_000, 2_000_000],
            "zipf": [0.0, 1.2],
        },
        warmup=1,
        steps=5,
    ),
    "small": dict(
        base=EmbeddingConfig(batch_size=2048, rows=200_000),
        sweeps={"batch_size": [512, 8192], "pooling": [1]},
        warmup=1,
        steps=4,
    ),
    "gpu_check": dict(
        base=EmbeddingConfig(batch_size=65536, rows=4_000_000),
        sweeps={"batch_size": [8192, 262144], "pooling": [1, 80], "dim": [128]},
        warmup=3,
        steps=10,
    ),
    "smoke": dict(
        base=EmbeddingConfig(batch_size=256, pooling=4, dim=16, tables=2, rows=2000),
        sweeps={"batch_size": [64]},
        warmup=1,
        steps=2,
    ),
}


def _plot(result: Dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweeps = result["sweeps"]
    fig, axes = plt.subplots(
        1, len(sweeps), figsize=(3.6 * len(sweeps), 3.4), squeeze=False
    )
    for ax, (param, points) in zip(axes[0], sweeps.items()):
        for impl in ("fused_table_wise", "nn_embeddingbag"):
            for phase, style in (("forward", "-o"), ("forward_backward", "--s")):
                xs = [p["value"] for p in points if impl in p]
                ys = [
                    p[impl][phase]["lookups_per_s"] / 1e6 for p in points if impl in p
                ]
                ax.plot(xs, ys, style, label=f"{impl} {phase}")
        ax.set_xlabel(param)
        ax.set_ylabel("M lookups/s")
        if param in ("batch_size", "rows"):
            ax.set_xscale("log")
    axes[0][0].legend(fontsize=6)
    fig.suptitle(
        f"embedding lookups on {result['host']['device']} ({result['world_size']} rank(s))"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    p.add_argument("--output_dir", default=os.path.join("results", "bench_embeddings"))
    return p.parse_args(argv)


class _Bench:
    """One preset's measurements on this rank's device (``ctx``)."""

    def __init__(self, preset_name: str, ctx: Any) -> None:
        self.preset_name = preset_name
        self.ctx = ctx
        self.device = ctx.device
        self.preset = PRESETS[preset_name]
        self.base: EmbeddingConfig = self.preset["base"]
        self.warmup, self.steps = self.preset["warmup"], self.preset["steps"]
        self.single = ctx.world_size == 1

    def say(self, *a: Any) -> None:
        if self.ctx.is_rank_zero:
            print(*a, flush=True)

    def run(
        self, build: Callable[[], Dict[str, Any]], config: EmbeddingConfig
    ) -> Dict[str, Any]:
        result = measure(
            build(), config, self.device, self.warmup, self.steps, self.ctx.world_size
        )
        # Sharded modules hold reference cycles: free each configuration's tables
        # (GBs at the larger sweep points) before the next one is built.
        gc.collect()
        return result

    def limits(self) -> Dict[str, Any]:
        limits = {
            "copy": copy_bandwidth(self.device),
            "random_gather": random_gather_bandwidth(self.device, dim=self.base.dim),
        }
        self.say(
            f"[bench_embeddings] copy {limits['copy']['bytes_per_s'] / 1e9:.1f} GB/s, random row "
            f"gather {limits['random_gather']['bytes_per_s'] / 1e9:.1f} GB/s"
        )
        return limits

    def at_base(self) -> Dict[str, Any]:
        """Every implementation (each sharding type) at the preset's base config."""
        base, ctx, device = self.base, self.ctx, self.device
        at_base: Dict[str, Any] = {}
        for sharding in SHARDINGS:
            at_base[f"fused_{sharding}"] = self.run(
                lambda: fused_sharded(base, sharding, ctx), base
            )
        if self.single:
            at_base["ebc_unsharded"] = self.run(
                lambda: unsharded_ebc(base, device), base
            )
            at_base["nn_embeddingbag"] = self.run(
                lambda: plain_embedding_bags(base, device), base
            )
        return at_base

    def sweeps(self) -> Dict[str, List[Dict[str, Any]]]:
        """Table-wise fused (and, on one rank, nn.EmbeddingBag) over each sweep."""
        ctx, device = self.ctx, self.device
        sweeps: Dict[str, List[Dict[str, Any]]] = {}
        for param, values in self.preset["sweeps"].items():
            sweeps[param] = []
            for value in values:
                config = replace(self.base, **{param: value})
                point: Dict[str, Any] = {"value": value}
                point["fused_table_wise"] = self.run(
                    lambda: fused_sharded(config, "table_wise", ctx), config
                )
                if self.single:
                    point["nn_embeddingbag"] = self.run(
                        lambda: plain_embedding_bags(config, device), config
                    )
                sweeps[param].append(point)
                self.say(f"  swept {param}={value}")
        return sweeps


def _ratios(
    at_base: Dict[str, Any], sweeps: Dict[str, List[Dict[str, Any]]], copy: float
) -> Dict[str, float]:
    """Fused against nn.EmbeddingBag, and the largest batch against the copy rate."""
    ratios: Dict[str, float] = {}
    if "nn_embeddingbag" in at_base:
        plain = at_base["nn_embeddingbag"]["forward_backward"]["samples_per_s"]
        ratios["fused_vs_nn_embeddingbag_forward_backward"] = (
            at_base["fused_table_wise"]["forward_backward"]["samples_per_s"] / plain
        )
    largest = max(sweeps.get("batch_size", [{"value": 0}]), key=lambda p: p["value"])
    if "fused_table_wise" in largest:
        ratios["fused_forward_fraction_of_copy_at_largest_batch"] = (
            largest["fused_table_wise"]["forward"]["bytes_per_s"] / copy
        )
        ratios["largest_batch"] = float(largest["value"])
    return ratios


def _measure_all(bench: _Bench) -> Dict[str, Any]:
    """The JSON document: machine limits, every implementation, sweeps and ratios."""
    limits = bench.limits()
    at_base = bench.at_base()
    sweeps = bench.sweeps()
    copy = limits["copy"]["bytes_per_s"]
    for m in at_base.values():
        for phase in ("forward", "forward_backward"):
            m[phase]["fraction_of_copy"] = m[phase]["bytes_per_s"] / copy
    device = bench.device
    return {
        "schema_version": SCHEMA_VERSION,
        "benchmark": "embeddings",
        "preset": bench.preset_name,
        "world_size": bench.ctx.world_size,
        "host": {
            "device": torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else platform.processor() or "cpu",
            "device_type": device.type,
            "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "host_allocator": host_allocator_mode(),
        },
        "byte_model": "forward: lookups x dim x 4; forward+backward: 3 x that (read, then "
        "read and write in the update); optimizer state not counted",
        "machine_limits": limits,
        "base": at_base,
        "sweeps": sweeps,
        "ratios": _ratios(at_base, sweeps, copy),
        "targets": {
            "fused_vs_nn_embeddingbag_forward_backward": 3.0,
            "fused_forward_fraction_of_copy_at_largest_batch": 0.5,
        },
    }


def _report(bench: _Bench, result: Dict[str, Any], output_dir: str) -> None:
    """The table on rank 0's stdout, and the JSON and plot into ``output_dir``."""
    say = bench.say
    say(
        f"  {'implementation':<22}{'fwd samples/s':>15}{'fwd GB/s':>10}{'%copy':>7}"
        f"{'f+b samples/s':>15}{'f+b p90 ms':>11}"
    )
    for impl, m in result["base"].items():
        f, fb = m["forward"], m["forward_backward"]
        say(
            f"  {impl:<22}{f['samples_per_s']:>15,.0f}{f['bytes_per_s'] / 1e9:>10.2f}"
            f"{100 * f['fraction_of_copy']:>6.0f}%{fb['samples_per_s']:>15,.0f}{fb['p90_s'] * 1e3:>11.0f}"
        )
    for key, value in result["ratios"].items():
        say(f"  {key}: {value:.2f}")
    if bench.ctx.is_rank_zero:
        os.makedirs(output_dir, exist_ok=True)
        path = os.path.join(output_dir, "bench_embeddings.json")
        with open(path, "w") as f:
            json.dump(result, f, indent=2)
        try:
            _plot(result, os.path.join(output_dir, "bench_embeddings.png"))
        except ImportError:
            say("  (matplotlib missing: no plot)")
        say(f"[bench_embeddings] written to {os.path.abspath(path)}")


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    keep_freed_host_memory()
    quiet_library_messages()
    ctx = init_distributed(args.device)
    try:
        bench = _Bench(args.preset, ctx)
        _report(bench, _measure_all(bench), args.output_dir)
    finally:
        destroy_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
