"""The results of an experiment: per-run rows, mean ± std per model, the
gradient-balance diagnostic, and the JSON and Markdown tables."""

import json
import math
import os
import statistics
import time
from typing import Any, Dict, List, Optional

from torchrec_dlf.experiments.spec import ExperimentSpec


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


def _run_row(m: Dict[str, Any]) -> Dict[str, Any]:
    """One run's row of the results table."""
    norms = m.get("gradient_norms") or {}
    return {
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
        "gradient_norms": norms.get("mean"),
        "stream_imbalance": stream_imbalance(norms.get("history")),
    }


SUMMARIZED = (
    "valid_auc",
    "valid_logloss",
    "test_auc",
    "test_logloss",
    "epochs_to_best",
    "train_seconds",
    "wall_seconds",
)


def _model_summary(mine: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Mean and std over one model's runs (rows of ``_run_row``)."""
    summary: Dict[str, Any] = {
        key: _mean_std([r[key] for r in mine]) for key in SUMMARIZED
    }
    summary["non_embedding_parameters"] = mine[0]["non_embedding_parameters"]
    norms = [r["gradient_norms"] for r in mine if r["gradient_norms"]]
    if norms:
        keys = sorted(norms[0])
        summary["gradient_norms"] = {
            k: statistics.fmean(n[k] for n in norms) for k in keys
        }
    imbalance = [
        r["stream_imbalance"] for r in mine if r["stream_imbalance"] is not None
    ]
    if imbalance:
        summary["stream_imbalance"] = _mean_std(imbalance)
    return summary


def summarize(spec: ExperimentSpec, runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per-run rows, per-model mean and std, and the gradient-balance summary."""
    rows = [_run_row(m) for m in runs]
    per_model: Dict[str, Any] = {}
    for model in spec.models:
        mine = [r for r in rows if r["model"] == model]
        if mine:
            per_model[model] = _model_summary(mine)
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
