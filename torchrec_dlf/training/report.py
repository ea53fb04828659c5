"""What a training run reports: its console lines and metrics.json."""

import json
import logging
import os
import platform
from dataclasses import asdict
from typing import Any, Dict, List, Optional

import torch
import torchrec
from torchrec.distributed.types import ShardingPlan

from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.host_allocator import host_allocator_mode
from torchrec_dlf.safe_output import write_text_atomically
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.gradient_norms import GradientNormTracker
from torchrec_dlf.training.job_logging import job_logger
from torchrec_dlf.training.model_config import ModelConfig
from torchrec_dlf.training.sharding import describe_device, format_plan
from torchrec_dlf.training.train_config import TrainConfig
from torchrec_dlf.training.train_state import TrainerState


def say(ctx: DistributedContext, *args: Any) -> None:
    """
    A progress line (`job_logger`): rank 0's (INFO) is printed as it is; the other
    ranks' (DEBUG: every rank runs the same job) only with ``--verbose``, prefixed
    with their rank (`job_logging.configure_logging`).
    """
    level = logging.INFO if ctx.is_rank_zero else logging.DEBUG
    job_logger().log(level, " ".join(str(a) for a in args), extra={"rank": ctx.rank})


def train_progress_line(
    step: int, values: Dict[str, float], learning_rates: Dict[str, float]
) -> str:
    """The line logged every ``--log_every_n_steps`` steps when the progress bar is
    off: the interval's mean loss, the windowed metrics of all ranks, samples/s and
    the learning rates."""
    rates = ", ".join(f"{k} {v:.3g}" for k, v in learning_rates.items())
    return (
        f"step {step}: train loss {values['loss']:.5f}, window NE "
        f"{values.get('window_ne', float('nan')):.5f} AUC "
        f"{values.get('window_auc', float('nan')):.5f} calibration "
        f"{values.get('window_calibration', float('nan')):.5f}, "
        f"{values['samples_per_second']:,.0f} samples/s, lr {rates}"
    )


def run_banner(
    model_config: ModelConfig,
    metadata: DatasetMetadata,
    dataset_dir: str,
    ctx: DistributedContext,
    non_embedding_parameters: int,
) -> str:
    """The first line of a run: model, dataset, ranks and device."""
    return (
        f"[torchrec_dlf] {model_config.interaction_type} on "
        f"{metadata.name} ({dataset_dir}), {ctx.world_size} rank(s), "
        f"{describe_device(ctx.device)}/{ctx.backend}, non-embedding parameters "
        f"{non_embedding_parameters:,}"
    )


def progress_bar(enabled: bool, epoch: int, total: int, done: int = 0) -> Any:
    """A tqdm bar over the batches of ``epoch`` (starting at ``done``), or None."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(
        total=total, initial=done, desc=f"epoch {epoch}", unit="batch", mininterval=2.0
    )


def _gradient_norm_report(
    tracker: Optional[GradientNormTracker],
) -> Optional[Dict[str, Any]]:
    if tracker is None:
        return None
    return {"history": dict(tracker.history), **tracker.summary()}


def _versions() -> Dict[str, str]:
    return {
        "torch": torch.__version__,
        "torchrec": getattr(torchrec, "__version__", "unknown"),
        "python": platform.python_version(),
    }


def build_results(
    run_name: str,
    model_config: ModelConfig,
    train_config: TrainConfig,
    dataset_dir: str,
    metadata: DatasetMetadata,
    ctx: DistributedContext,
    plan: ShardingPlan,
    parameter_counts: Dict[str, int],
    state: TrainerState,
    best_step: int,
    gradient_norms: Optional[GradientNormTracker],
    final: Dict[str, Dict[str, float]],
    wall_seconds: float,
) -> Dict[str, Any]:
    """The content of metrics.json; ``final`` holds the ``valid`` and ``test`` metrics
    of the best validation's weights, ``best_step`` that validation's step."""
    evaluations: List[Dict[str, Any]] = state.evaluations
    best = next((e for e in evaluations if e["step"] == best_step), None)
    seconds = state.train_seconds
    return {
        "run_name": run_name,
        "model": model_config.used_settings(),
        "train": asdict(train_config),
        "dataset": {
            "dir": os.path.abspath(dataset_dir),
            "name": metadata.name,
            "rows": {k: v.rows for k, v in metadata.splits.items()},
        },
        "parameters": parameter_counts,
        "world_size": ctx.world_size,
        "device": describe_device(ctx.device),
        "backend": ctx.backend,
        "host_allocator": host_allocator_mode(),
        "sharding_plan": format_plan(plan),
        "steps": state.global_step,
        "epochs_completed": state.epoch,
        "train_samples": state.train_samples,
        "train_seconds": seconds,
        "train_samples_per_second": state.train_samples / seconds if seconds else 0.0,
        "wall_seconds": wall_seconds,
        "evaluations": evaluations,
        "gradient_norms": _gradient_norm_report(gradient_norms),
        "best_valid_step": best_step,
        "best_epoch": best["epoch"] if best is not None else None,
        "valid": final["valid"],
        "test": final["test"],
        "versions": _versions(),
    }


def write_report(
    results: Dict[str, Any], output_dir: str, interaction_type: str
) -> None:
    """Writes ``<output_dir>/<run_name>/metrics.json`` (adding its path to
    ``results`` as ``metrics_path``) and prints the run's summary; rank 0 only."""
    run_name = results["run_name"]
    out_dir = os.path.join(output_dir, run_name)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "metrics.json")
    write_text_atomically(path, json.dumps(results, indent=2, default=str))
    results["metrics_path"] = os.path.abspath(path)
    v, t = results["valid"], results["test"]
    print(
        f"[torchrec_dlf] {run_name} ({interaction_type}): "
        f"valid AUC {v['auc']:.5f} logloss {v['logloss']:.5f} | "
        f"test AUC {t['auc']:.5f} logloss {t['logloss']:.5f}"
        + (f" GAUC {t['gauc']:.5f}" if "gauc" in t else "")
        + " | "
        f"{results['train_samples_per_second']:,.0f} samples/s | "
        f"non-embedding params {results['parameters']['non_embedding']:,}\n"
        f"[torchrec_dlf] metrics written to {os.path.abspath(path)}",
        flush=True,
    )
