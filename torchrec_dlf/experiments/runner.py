"""Runs a grid of models x seeds through launch/train.py and tabulates the results."""

import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The models an experiment can name: train.py flags on top of the experiment's common ones.
MODELS: Dict[str, List[str]] = {
    "dlf": ["--interaction_type", "dlf"],
    "dlf_batchnorm": ["--interaction_type", "dlf", "--dlf_block_norm", "batch"],
    "dlf_no_low_order": ["--interaction_type", "dlf", "--dlf_low_order", "off"],
    "dlf_concat": ["--interaction_type", "dlf", "--dlf_fusion", "concat"],
    "dlf_no_gate": ["--interaction_type", "dlf", "--dlf_gate", "off"],
    "dlf_linear_gamma": [
        "--interaction_type",
        "dlf",
        "--dlf_implicit_activation",
        "off",
    ],
    "dot": ["--interaction_type", "dot"],
    "dcn": ["--interaction_type", "dcn"],
    "projection": ["--interaction_type", "projection"],
    "dcnv2": ["--interaction_type", "dcnv2"],
    "deepfm": ["--interaction_type", "deepfm"],
    "lr": ["--interaction_type", "lr"],
}
# Models whose DLF-specific flags from the experiment's "dlf" settings apply.
DLF_FAMILY = {m for m in MODELS if m.startswith("dlf")}


@dataclass
class ExperimentSpec:
    """
    What to run: the common train.py flags, per-model flags (tuned on validation), the
    models and the seeds. Loaded from a JSON file like ``experiments/frappe_x1.json``.
    """

    name: str
    dataset_dir: str
    models: List[str]
    seeds: List[int]
    common: List[str] = field(default_factory=list)
    per_model: Dict[str, List[str]] = field(default_factory=dict)
    # Extra named models (e.g. hyperparameter candidates): name -> complete flags.
    variants: Dict[str, List[str]] = field(default_factory=dict)
    notes: str = ""

    @classmethod
    def load(cls, path: str) -> "ExperimentSpec":
        with open(path) as f:
            raw = json.load(f)
        spec = cls(**raw)
        unknown = [m for m in spec.models if m not in MODELS and m not in spec.variants]
        if unknown:
            raise ValueError(
                f"{path}: unknown models {unknown}; known: {sorted(MODELS)}"
            )
        return spec

    def flags(self, model: str) -> List[str]:
        if model in self.variants:
            return list(self.common) + list(self.variants[model])
        extra = list(self.per_model.get(model, []))
        if model in DLF_FAMILY and model != "dlf":
            # Ablations share DLF's tuned settings; the ablation switch comes last.
            extra = list(self.per_model.get("dlf", [])) + extra
        return list(self.common) + extra + MODELS[model]


def run_name(model: str, seed: int) -> str:
    return f"{model}-seed{seed}"


RUN_FILE = "run.json"
CHECKPOINTS = "checkpoints"


def run_grid(
    spec: ExperimentSpec,
    output_dir: str,
    extra: Optional[List[str]] = None,
    python: str = sys.executable,
    run_missing: bool = True,
) -> List[Dict[str, Any]]:
    """
    Runs every (model, seed) not already finished and returns the metrics of all
    (``run_missing=False``: runs nothing, returns the finished ones, for a report on a
    grid still under way). A
    finished run (its ``metrics.json`` exists) is never rerun; a run that was stopped
    midway continues from its last checkpoint (each run checkpoints every epoch into
    ``runs/<name>/checkpoints``, removed once it finishes). The wall time of each run,
    restarts included, is recorded in ``runs/<name>/run.json``.
    """
    runs_dir = os.path.join(output_dir, "runs")
    os.makedirs(runs_dir, exist_ok=True)
    collected = []
    for model in spec.models:
        for seed in spec.seeds:
            name = run_name(model, seed)
            run_dir = os.path.join(runs_dir, name)
            metrics_path = os.path.join(run_dir, "metrics.json")
            if not os.path.isfile(metrics_path):
                if not run_missing:
                    continue
                _run_one(spec, model, seed, runs_dir, extra or [], python)
            with open(metrics_path) as f:
                metrics = json.load(f)
            metrics["model_name"], metrics["seed_value"] = model, seed
            metrics["run"] = _read_run_record(run_dir)
            collected.append(metrics)
            t = metrics["test"]
            wall = metrics["run"].get("wall_seconds", metrics.get("wall_seconds", 0.0))
            print(
                f"[experiment] {name}: test AUC {t['auc']:.5f} logloss {t['logloss']:.5f} "
                f"({wall / 60:.1f} min)",
                flush=True,
            )
    return collected


def _read_run_record(run_dir: str) -> Dict[str, Any]:
    path = os.path.join(run_dir, RUN_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _run_one(
    spec: ExperimentSpec,
    model: str,
    seed: int,
    runs_dir: str,
    extra: List[str],
    python: str,
) -> None:
    name = run_name(model, seed)
    run_dir = os.path.join(runs_dir, name)
    os.makedirs(run_dir, exist_ok=True)
    record = _read_run_record(run_dir)
    checkpoints = os.path.join(run_dir, CHECKPOINTS)
    cmd = [
        python,
        os.path.join(ROOT, "launch", "train.py"),
        "--dataset_dir",
        spec.dataset_dir,
        *spec.flags(model),
        *extra,
        "--seed",
        str(seed),
        "--output_dir",
        runs_dir,
        "--run_name",
        name,
        "--print_progress",
        "off",
        "--checkpoint_dir",
        checkpoints,
    ]
    resumed = os.path.isdir(checkpoints) and any(
        entry.startswith("step_") for entry in os.listdir(checkpoints)
    )
    print(
        f"[experiment] {name}{' (continuing)' if resumed else ''}: "
        f"{' '.join(shlex.quote(c) for c in cmd)}",
        flush=True,
    )
    started = time.time()
    with open(os.path.join(runs_dir, f"{name}.log"), "a") as log:
        done = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    # Time spent in earlier, interrupted attempts is kept in the record.
    record["wall_seconds"] = record.get("wall_seconds", 0.0) + time.time() - started
    record["attempts"] = record.get("attempts", 0) + 1
    record["command"] = cmd
    with open(os.path.join(run_dir, RUN_FILE), "w") as f:
        json.dump(record, f, indent=2)
    if done.returncode != 0 or not os.path.isfile(
        os.path.join(run_dir, "metrics.json")
    ):
        raise RuntimeError(f"{name} failed (exit {done.returncode}); see {log.name}")
    shutil.rmtree(checkpoints, ignore_errors=True)


def _best_epoch(metrics: Dict[str, Any]) -> int:
    step = metrics["best_valid_step"]
    for record in metrics["evaluations"]:
        if record["step"] == step:
            return int(record["epoch"]) + 1
    return 0


STREAMS = ("alpha", "beta", "gamma")


def stream_imbalance(history: Optional[Dict[str, List[float]]]) -> Optional[float]:
    """
    Gradient imbalance between DLF's streams over training: at each recorded step the
    largest stream's gradient norm over the smallest one's (alpha, beta, gamma; streams a
    switch removed are left out), averaged over the steps. 1.0 is perfect balance.
    """
    if not history:
        return None
    streams = [s for s in STREAMS if any(v > 0 for v in history.get(s, []))]
    if len(streams) < 2:
        return None
    ratios = []
    for values in zip(*(history[s] for s in streams)):
        if min(values) > 0:
            ratios.append(max(values) / min(values))
    return statistics.fmean(ratios) if ratios else None


def _mean_std(values: List[float]) -> Dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": float(len(values)),
    }


def summarize(spec: ExperimentSpec, runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per-run rows, per-model mean and std, and the gradient-balance summary."""
    rows = []
    for m in runs:
        rows.append(
            {
                "model": m["model_name"],
                "seed": m["seed_value"],
                "valid_auc": m["valid"]["auc"],
                "valid_logloss": m["valid"]["logloss"],
                "test_auc": m["test"]["auc"],
                "test_logloss": m["test"]["logloss"],
                "epochs_to_best": _best_epoch(m),
                "epochs_run": m.get("epochs_completed"),
                "train_seconds": m["train_seconds"],
                "wall_seconds": (m.get("run") or {}).get(
                    "wall_seconds", m.get("wall_seconds", 0.0)
                ),
                "samples_per_second": m["train_samples_per_second"],
                "non_embedding_parameters": m["parameters"]["non_embedding"],
                "gradient_norms": (m.get("gradient_norms") or {}).get("mean"),
                "stream_imbalance": stream_imbalance(
                    (m.get("gradient_norms") or {}).get("history")
                ),
            }
        )
    per_model: Dict[str, Any] = {}
    for model in spec.models:
        mine = [r for r in rows if r["model"] == model]
        if not mine:
            continue
        per_model[model] = {
            key: _mean_std([r[key] for r in mine])
            for key in (
                "valid_auc",
                "valid_logloss",
                "test_auc",
                "test_logloss",
                "epochs_to_best",
                "train_seconds",
                "wall_seconds",
            )
        }
        per_model[model]["non_embedding_parameters"] = mine[0][
            "non_embedding_parameters"
        ]
        norms = [r["gradient_norms"] for r in mine if r["gradient_norms"]]
        if norms:
            keys = sorted(norms[0])
            per_model[model]["gradient_norms"] = {
                k: statistics.fmean(n[k] for n in norms) for k in keys
            }
        imbalance = [
            r["stream_imbalance"] for r in mine if r["stream_imbalance"] is not None
        ]
        if imbalance:
            per_model[model]["stream_imbalance"] = _mean_std(imbalance)
    return {
        "experiment": spec.name,
        "dataset_dir": spec.dataset_dir,
        "runs": rows,
        "models": per_model,
    }


def markdown(summary: Dict[str, Any], spec: ExperimentSpec) -> str:
    """The results table (mean ± std over seeds) and the per-run table."""

    def fmt(stat: Dict[str, float], digits: int = 4) -> str:
        return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"

    lines = [
        f"### {spec.name}: seeds {', '.join(map(str, spec.seeds))}",
        "",
        "| model | seeds | test AUC | test logloss | valid AUC | epochs to best | train min | non-emb. params |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ranked = sorted(
        summary["models"].items(), key=lambda kv: -kv[1]["test_auc"]["mean"]
    )
    for model, s in ranked:
        lines.append(
            f"| {model} | {int(s['test_auc']['n'])} | {fmt(s['test_auc'])} | {fmt(s['test_logloss'])} | "
            f"{fmt(s['valid_auc'])} | "
            f"{s['epochs_to_best']['mean']:.1f} | {s['train_seconds']['mean'] / 60:.1f} | "
            f"{s['non_embedding_parameters']:,} |"
        )
    lines += [
        "",
        "Per run:",
        "",
        "| run | valid AUC | test AUC | test logloss | best epoch | wall min |",
        "|---|---|---|---|---|---|",
    ]
    for r in summary["runs"]:
        lines.append(
            f"| {r['model']} seed {r['seed']} | {r['valid_auc']:.5f} | {r['test_auc']:.5f} | "
            f"{r['test_logloss']:.5f} | {r['epochs_to_best']} | {r['wall_seconds'] / 60:.1f} |"
        )
    grads = {
        m: s["gradient_norms"]
        for m, s in summary["models"].items()
        if "gradient_norms" in s
    }
    if grads:
        groups = ["alpha", "beta", "gamma", "fusion", "embeddings"]
        lines += [
            "",
            "Mean gradient norm per stream (ratio to beta in brackets); stream imbalance: "
            "largest over smallest of alpha, beta, gamma per step, mean over training:",
            "",
            "| model | " + " | ".join(groups) + " | stream imbalance |",
            "|---" * (len(groups) + 2) + "|",
        ]
        for model, g in grads.items():
            beta = g.get("beta") or math.nan
            cells = [
                f"{g[k]:.4f} ({g[k] / beta:.2f})" if k in g else "-" for k in groups
            ]
            imbalance = summary["models"][model].get("stream_imbalance")
            cells.append(fmt(imbalance, 2) if imbalance else "-")
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_outputs(
    summary: Dict[str, Any], spec: ExperimentSpec, output_dir: str
) -> Dict[str, str]:
    os.makedirs(output_dir, exist_ok=True)
    paths = {
        "json": os.path.join(output_dir, "results.json"),
        "md": os.path.join(output_dir, "results.md"),
    }
    with open(paths["json"], "w") as f:
        json.dump(
            {**summary, "written": time.strftime("%Y-%m-%d %H:%M:%S")}, f, indent=2
        )
    with open(paths["md"], "w") as f:
        f.write(markdown(summary, spec))
    return paths
