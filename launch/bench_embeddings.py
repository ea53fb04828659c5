#!/usr/bin/env python3
"""Embedding benchmark: EmbeddingBagCollection lookup throughput with FBGEMM's fused
kernels through DMP (each sharding type), TorchRec's unsharded EBC and plain
torch.nn.EmbeddingBag, forward and forward+backward (with the optimizer update), swept
over batch size, pooling factor, dimension, tables, rows and Zipf skew, against the
machine's copy and random-gather bandwidth measured in the same run.

    python launch/bench_embeddings.py                     # CPU, one rank
    torchx run dist.ddp -j 1x2 --script launch/bench_embeddings.py -- --preset small
    python launch/bench_embeddings.py --device cuda --preset gpu_check

Writes bench_embeddings.json and bench_embeddings.png into --output_dir (rank 0).
"""

import argparse
import gc
import json
import os
import platform
import sys
from dataclasses import replace
from typing import Any, Callable, Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from torchrec_dlf.benchmarks.embedding_throughput import (  # noqa: E402
    EmbeddingConfig,
    fused_sharded,
    measure,
    plain_embedding_bags,
    unsharded_ebc,
)
from torchrec_dlf.benchmarks.machine_limits import (  # noqa: E402
    copy_bandwidth,
    random_gather_bandwidth,
)
from torchrec_dlf.training.distributed import destroy_distributed, init_distributed  # noqa: E402
from torchrec_dlf.training.quiet import quiet_library_messages  # noqa: E402

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


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    p.add_argument("--output_dir", default=os.path.join("results", "bench_embeddings"))
    args = p.parse_args()
    quiet_library_messages()
    ctx = init_distributed(args.device)
    device = ctx.device
    preset = PRESETS[args.preset]
    base: EmbeddingConfig = preset["base"]
    warmup, steps = preset["warmup"], preset["steps"]
    single = ctx.world_size == 1

    def say(*a: Any) -> None:
        if ctx.is_rank_zero:
            print(*a, flush=True)

    try:
        limits = {
            "copy": copy_bandwidth(device),
            "random_gather": random_gather_bandwidth(device, dim=base.dim),
        }
        say(
            f"[bench_embeddings] copy {limits['copy']['bytes_per_s'] / 1e9:.1f} GB/s, random row "
            f"gather {limits['random_gather']['bytes_per_s'] / 1e9:.1f} GB/s"
        )

        def run(
            build: Callable[[], Dict[str, Any]], config: EmbeddingConfig
        ) -> Dict[str, Any]:
            result = measure(build(), config, device, warmup, steps, ctx.world_size)
            # Sharded modules hold reference cycles: free each configuration's tables
            # (GBs at the larger sweep points) before the next one is built.
            gc.collect()
            return result

        at_base: Dict[str, Any] = {}
        for sharding in SHARDINGS:
            at_base[f"fused_{sharding}"] = run(
                lambda: fused_sharded(base, sharding, ctx), base
            )
        if single:
            at_base["ebc_unsharded"] = run(lambda: unsharded_ebc(base, device), base)
            at_base["nn_embeddingbag"] = run(
                lambda: plain_embedding_bags(base, device), base
            )
        sweeps: Dict[str, List[Dict[str, Any]]] = {}
        for param, values in preset["sweeps"].items():
            sweeps[param] = []
            for value in values:
                config = replace(base, **{param: value})
                point: Dict[str, Any] = {"value": value}
                point["fused_table_wise"] = run(
                    lambda: fused_sharded(config, "table_wise", ctx), config
                )
                if single:
                    point["nn_embeddingbag"] = run(
                        lambda: plain_embedding_bags(config, device), config
                    )
                sweeps[param].append(point)
                say(f"  swept {param}={value}")
        copy = limits["copy"]["bytes_per_s"]
        for impl, m in at_base.items():
            for phase in ("forward", "forward_backward"):
                m[phase]["fraction_of_copy"] = m[phase]["bytes_per_s"] / copy
        ratios: Dict[str, float] = {}
        if single:
            plain = at_base["nn_embeddingbag"]["forward_backward"]["samples_per_s"]
            ratios["fused_vs_nn_embeddingbag_forward_backward"] = (
                at_base["fused_table_wise"]["forward_backward"]["samples_per_s"] / plain
            )
        largest = max(
            sweeps.get("batch_size", [{"value": 0}]), key=lambda p: p["value"]
        )
        if "fused_table_wise" in largest:
            ratios["fused_forward_fraction_of_copy_at_largest_batch"] = (
                largest["fused_table_wise"]["forward"]["bytes_per_s"] / copy
            )
            ratios["largest_batch"] = float(largest["value"])
        result = {
            "schema_version": SCHEMA_VERSION,
            "benchmark": "embeddings",
            "preset": args.preset,
            "world_size": ctx.world_size,
            "host": {
                "device": torch.cuda.get_device_name(device)
                if device.type == "cuda"
                else platform.processor() or "cpu",
                "device_type": device.type,
                "cpus": os.cpu_count(),
                "threads": torch.get_num_threads(),
            },
            "byte_model": "forward: lookups x dim x 4; forward+backward: 3 x that (read, then "
            "read and write in the update); optimizer state not counted",
            "machine_limits": limits,
            "base": at_base,
            "sweeps": sweeps,
            "ratios": ratios,
            "targets": {
                "fused_vs_nn_embeddingbag_forward_backward": 3.0,
                "fused_forward_fraction_of_copy_at_largest_batch": 0.5,
            },
        }
        say(
            f"  {'implementation':<22}{'fwd samples/s':>15}{'fwd GB/s':>10}{'%copy':>7}"
            f"{'f+b samples/s':>15}{'f+b p90 ms':>11}"
        )
        for impl, m in at_base.items():
            f, fb = m["forward"], m["forward_backward"]
            say(
                f"  {impl:<22}{f['samples_per_s']:>15,.0f}{f['bytes_per_s'] / 1e9:>10.2f}"
                f"{100 * f['fraction_of_copy']:>6.0f}%{fb['samples_per_s']:>15,.0f}{fb['p90_s'] * 1e3:>11.0f}"
            )
        for key, value in ratios.items():
            say(f"  {key}: {value:.2f}")
        if ctx.is_rank_zero:
            os.makedirs(args.output_dir, exist_ok=True)
            path = os.path.join(args.output_dir, "bench_embeddings.json")
            with open(path, "w") as f:
                json.dump(result, f, indent=2)
            try:
                _plot(result, os.path.join(args.output_dir, "bench_embeddings.png"))
            except ImportError:
                say("  (matplotlib missing: no plot)")
            say(f"[bench_embeddings] written to {os.path.abspath(path)}")
    finally:
        destroy_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
