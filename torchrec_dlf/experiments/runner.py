"""Runs a grid of models x seeds, each as ``python -m torchrec_dlf.train`` in a process
of its own, and tabulates the results (``torchrec_dlf.experiments.report``)."""

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

from torchrec_dlf.experiments.model_specs import DLF_FAMILY, MODELS
from torchrec_dlf.experiments.report import (
    markdown,
    stream_imbalance,
    summarize,
    write_outputs,
)
from torchrec_dlf.experiments.spec import ExperimentSpec, run_name

__all__ = [
    "CHECKPOINTS",
    "DLF_FAMILY",
    "MODELS",
    "RUN_FILE",
    "TRAIN_MODULE",
    "ExperimentSpec",
    "markdown",
    "run_grid",
    "run_name",
    "stream_imbalance",
    "summarize",
    "train_command",
    "write_outputs",
]

# Each run is the installed training entry point, not a path inside a checkout.
TRAIN_MODULE = "torchrec_dlf.train"
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


def train_command(
    spec: ExperimentSpec,
    model: str,
    seed: int,
    runs_dir: str,
    extra: List[str],
    python: str = sys.executable,
) -> List[str]:
    """
    The command of one run: the installed training module (``python -m
    torchrec_dlf.train``) in a process of its own, checkpointing into
    ``runs/<name>/checkpoints`` so that a stopped run continues.
    """
    name = run_name(model, seed)
    return [
        python,
        "-m",
        TRAIN_MODULE,
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
        os.path.join(runs_dir, name, CHECKPOINTS),
    ]


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
    cmd = train_command(spec, model, seed, runs_dir, extra, python)
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
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
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
