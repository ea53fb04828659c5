"""Model benchmark: training and inference throughput of DLRM_DLF's dense part against
TorchRec's dot, DCN and projection archs and the authors' DLF layer structure (plain
PyTorch), on identical inputs, in fp32 and bf16, with FLOPs and the machine's matmul peak.

    python -m torchrec_dlf.bench_model                   # criteo-shaped preset, CPU
    python -m torchrec_dlf.bench_model --device cuda --preset criteo_gpu
    python -m torchrec_dlf.bench_model --preset smoke    # CI

Writes bench_model.json and bench_model.png into --output_dir. Also installed as
``torchrec-dlf-bench-model`` and run by ``launch/bench_model.py``.
"""

import argparse
import json
import os
import platform
import statistics
import sys
from dataclasses import asdict
from typing import Any, Dict, List, Optional

import torch

from torchrec_dlf.benchmarks.machine_limits import matmul_peak
from torchrec_dlf.benchmarks.model_throughput import ModelShape, run_models
from torchrec_dlf.host_allocator import host_allocator_mode, keep_freed_host_memory

SCHEMA_VERSION = 1
PRESETS: Dict[str, Dict[str, Any]] = {
    # Criteo's shape with the authors' sizes (d = 64, 16 tokens per block, rank 24).
    "criteo": dict(
        shape=ModelShape(4096, 26, 13, 64, (512, 256, 64)), warmup=2, steps=6
    ),
    "criteo_gpu": dict(
        shape=ModelShape(16384, 26, 13, 64, (512, 256, 64)), warmup=5, steps=20
    ),
    # Frappe's shape (10 fields, d = 16; a constant dense input stands in for no numerics).
    "frappe": dict(shape=ModelShape(4096, 10, 1, 16, (64, 16)), warmup=2, steps=8),
    "gpu_check": dict(
        shape=ModelShape(8192, 26, 13, 64, (512, 256, 64)), warmup=3, steps=10
    ),
    "smoke": dict(
        shape=ModelShape(128, 6, 3, 16, (32, 16), (64, 1), 2, 4, 4, 32, 2, 8),
        warmup=1,
        steps=2,
    ),
}


def _plot(results: Dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["models"])
    precisions = results["precisions"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, phase in zip(axes, ("train", "infer")):
        width = 0.8 / len(precisions)
        for i, precision in enumerate(precisions):
            values = [
                results["models"][n][precision][phase]["samples_per_s"] for n in names
            ]
            ax.bar(
                [x + i * width for x in range(len(names))],
                values,
                width,
                label=precision,
            )
        ax.set_xticks(
            [x + width * (len(precisions) - 1) / 2 for x in range(len(names))]
        )
        ax.set_xticklabels(names, rotation=20)
        ax.set_ylabel("samples/s")
        ax.set_title(f"{phase} step, batch {results['shape']['batch_size']}")
        ax.legend()
    fig.suptitle(f"dense-part throughput on {results['host']['device']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="criteo")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--models", default=None, help="comma-separated subset")
    p.add_argument("--compile", action="store_true", help="torch.compile every model")
    p.add_argument(
        "--compiled_models",
        default=None,
        help="comma-separated models measured a second time under torch.compile "
        "(rows <name>+compiled), e.g. dlf",
    )
    p.add_argument("--steps", type=int, default=None)
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every model this many times in turn; rows and ratios are the "
        "medians over rounds (each ratio taken within its round), for noisy hosts",
    )
    p.add_argument("--output_dir", default=os.path.join("results", "bench_model"))
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error(f"--rounds must be at least 1, got {args.rounds}")
    return args


def _add_fractions_of_peak(
    models: Dict[str, Any], peaks: Dict[str, Dict[str, float]]
) -> None:
    for per_precision in models.values():
        for precision, m in per_precision.items():
            m["train_fraction_of_peak"] = (
                m["train_flop_per_s"] / peaks[precision]["flop_per_s"]
            )
            m["train_fraction_of_bf16_peak"] = (
                m["train_flop_per_s"] / peaks["bf16"]["flop_per_s"]
            )


def _train_ratio(ours: Dict[str, Any], ref: Dict[str, Any], precision: str) -> float:
    return (
        ours[precision]["train"]["samples_per_s"]
        / ref[precision]["train"]["samples_per_s"]
    )


def _ratios(models: Dict[str, Any], precisions: List[str]) -> Dict[str, float]:
    """DLF against the authors' layer structure, and bf16 DLF against the peak."""
    ratios: Dict[str, float] = {}
    if "dlf" not in models or "dlf_reference" not in models:
        return ratios
    ours, ref = models["dlf"], models["dlf_reference"]
    for precision in precisions:
        ratios[f"dlf_vs_reference_train_{precision}"] = _train_ratio(
            ours, ref, precision
        )
    for other in ("dlf_streamwise", "dlf+compiled"):
        if other in models:
            for precision in precisions:
                ratios[f"dlf_vs_{other}_train_{precision}"] = _train_ratio(
                    ours, models[other], precision
                )
    if "dlf_released_switches" in models:
        same = models["dlf_released_switches"]
        for precision in precisions:
            ratios[f"dlf_released_switches_vs_reference_train_{precision}"] = (
                _train_ratio(same, ref, precision)
            )
    if "bf16" in precisions and "fp32" in precisions:
        ratios["dlf_bf16_vs_reference_fp32_train"] = (
            ours["bf16"]["train"]["samples_per_s"]
            / ref["fp32"]["train"]["samples_per_s"]
        )
        ratios["dlf_bf16_train_fraction_of_bf16_peak"] = ours["bf16"][
            "train_fraction_of_peak"
        ]
    return ratios


def _print_report(results: Dict[str, Any]) -> None:
    peaks, shape = results["matmul_peak"], results["shape"]
    print(
        f"[bench_model] {results['host']['device']}, preset {results['preset']}, "
        f"batch {shape['batch_size']}"
    )
    print(
        f"  matmul peak: fp32 {peaks['fp32']['flop_per_s'] / 1e9:,.0f} GFLOP/s, "
        f"bf16 {peaks['bf16']['flop_per_s'] / 1e9:,.0f} GFLOP/s"
    )
    print(
        f"  {'model':<23}{'prec':<6}{'train/s':>11}{'p90 ms':>9}{'infer/s':>11}"
        f"{'MFLOP/smp':>11}{'GFLOP/s':>9}{'%peak':>7}"
    )
    for name, per_precision in results["models"].items():
        for precision, m in per_precision.items():
            print(
                f"  {name:<23}{precision:<6}{m['train']['samples_per_s']:>11,.0f}"
                f"{m['train']['p90_s'] * 1e3:>9.0f}{m['infer']['samples_per_s']:>11,.0f}"
                f"{m['train_flops_per_sample'] / 1e6:>11.1f}{m['train_flop_per_s'] / 1e9:>9.0f}"
                f"{100 * m['train_fraction_of_peak']:>6.0f}%"
            )
    for key, value in results["ratios"].items():
        print(f"  {key}: {value:.2f}")


def _median_round(rounds: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per model and precision, the record of the round with the median training rate
    (the lower middle one for an even count)."""
    models: Dict[str, Any] = {}
    for name, per_precision in rounds[0].items():
        models[name] = {}
        for precision in per_precision:
            records = sorted(
                (r[name][precision] for r in rounds),
                key=lambda m: m["train"]["samples_per_s"],
            )
            models[name][precision] = records[(len(records) - 1) // 2]
    return models


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    """Every model of the preset, with the machine's matmul peak: the JSON document."""
    preset = PRESETS[args.preset]
    shape: ModelShape = preset["shape"]
    steps = args.steps or preset["steps"]
    device = torch.device(args.device)
    precisions = args.precisions.split(",")
    peaks = {
        "fp32": matmul_peak(device, torch.float32),
        "bf16": matmul_peak(device, torch.bfloat16),
    }
    rounds = []
    for _ in range(args.rounds):
        measured = run_models(
            shape,
            device,
            precisions,
            preset["warmup"],
            steps,
            args.compile,
            args.models.split(",") if args.models else None,
            args.compiled_models.split(",") if args.compiled_models else None,
        )
        _add_fractions_of_peak(measured, peaks)
        rounds.append(measured)
    models = _median_round(rounds)
    round_ratios = [_ratios(m, precisions) for m in rounds]
    ratios = {
        key: statistics.median(r[key] for r in round_ratios) for key in round_ratios[0]
    }
    device_name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu"
    )
    return {
        "schema_version": SCHEMA_VERSION,
        "benchmark": "model",
        "preset": args.preset,
        "host": {
            "device": device_name,
            "device_type": device.type,
            "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "host_allocator": host_allocator_mode(),
        },
        "shape": asdict(shape),
        "precisions": precisions,
        "compiled": args.compile,
        "matmul_peak": peaks,
        "rounds": args.rounds,
        "models": models,
        "ratios": ratios,
        "ratios_by_round": round_ratios,
        "targets": {
            "dlf_vs_reference_train_fp32": 0.6,
            "dlf_bf16_vs_reference_fp32_train": 1.75,
            "dlf_bf16_train_fraction_of_bf16_peak": 0.45,
        },
    }


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    keep_freed_host_memory()
    results = measure(args)
    _print_report(results)
    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, "bench_model.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    try:
        _plot(results, os.path.join(args.output_dir, "bench_model.png"))
    except ImportError:
        print("  (matplotlib missing: no plot)")
    print(f"[bench_model] written to {os.path.abspath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
