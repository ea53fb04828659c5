"""Compares two runs of the same training job by their ``metrics.json``: launch/gpu_check.sh
runs one job on CUDA/NCCL and on CPU/gloo and asks whether they agree.

    python -m torchrec_dlf.training.run_comparison REFERENCE CANDIDATE \\
        [--auc_tolerance 0.02] [--logloss_tolerance 0.02] [--output comparison.json]

REFERENCE and CANDIDATE are metrics.json files or the run directories holding them.
The runs must be the same job (model and training settings, dataset rows, ranks,
steps; the output location and the device may differ), with finite metrics, and their
valid and test AUC and logloss must agree within the tolerances. Exit status 0 when
they do, 1 when they do not (each difference is listed), 2 for a file that cannot be
read.
"""

import json
import math
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

from torchrec_dlf.user_errors import CommandLineParser, UserError, run_command

METRICS_FILE = "metrics.json"
# Settings that name where a run writes or how it talks, not what it computes.
NOT_THE_JOB = (
    "train.output_dir",
    "train.run_name",
    "train.print_progress",
    "train.print_sharding_plan",
    "train.checkpoint_dir",
)
SPLITS = ("valid", "test")
MEASURES = ("auc", "logloss")


def load_run(path: str) -> Dict[str, Any]:
    """The run record at ``path`` (a metrics.json or its run directory)."""
    if os.path.isdir(path):
        path = os.path.join(path, METRICS_FILE)
    try:
        with open(path) as f:
            record = json.load(f)
    except FileNotFoundError:
        raise UserError(f"no run record at {path}")
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read the run record {path}: {e}")
    missing = [
        key
        for key in ("model", "train", "world_size", "steps", *SPLITS)
        if key not in record
    ]
    if missing:
        raise UserError(
            f"{path} is not a metrics.json of the trainer (no {missing[0]})"
        )
    return record


def _flatten(prefix: str, value: Any) -> Dict[str, Any]:
    if isinstance(value, dict):
        out: Dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(f"{prefix}.{key}" if prefix else key, inner))
        return out
    return {prefix: value}


def job_differences(
    reference: Dict[str, Any], candidate: Dict[str, Any], ignore: Tuple[str, ...] = ()
) -> List[str]:
    """``key: a != b`` for every setting in which the two runs are not the same job."""

    def job(record: Dict[str, Any]) -> Dict[str, Any]:
        fields = _flatten("model", record["model"])
        fields.update(_flatten("train", record["train"]))
        fields.update(_flatten("dataset.rows", record.get("dataset", {}).get("rows")))
        for key in ("world_size", "steps", "epochs_completed"):
            fields[key] = record.get(key)
        for split in SPLITS:
            fields[f"{split}.rows"] = record[split].get("rows")
        return {k: v for k, v in fields.items() if k not in NOT_THE_JOB + ignore}

    a, b = job(reference), job(candidate)
    return [
        f"{key}: {a.get(key)!r} != {b.get(key)!r}"
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]


def metric_rows(
    reference: Dict[str, Any],
    candidate: Dict[str, Any],
    tolerances: Dict[str, float],
) -> List[Dict[str, Any]]:
    """One row per split and measure: both values, the difference, whether it is
    within its tolerance (a value that is not finite never is)."""
    rows = []
    for split in SPLITS:
        for measure in MEASURES:
            a = reference[split].get(measure)
            b = candidate[split].get(measure)
            finite = all(
                isinstance(v, (int, float)) and math.isfinite(v) for v in (a, b)
            )
            difference = b - a if finite else None
            rows.append(
                {
                    "metric": f"{split} {measure}",
                    "reference": a,
                    "candidate": b,
                    "difference": difference,
                    "tolerance": tolerances[measure],
                    "ok": finite and abs(difference) <= tolerances[measure],
                }
            )
    return rows


def _where(record: Dict[str, Any]) -> str:
    return f"{record.get('device', '?')}/{record.get('backend', '?')}"


def compare(
    reference_path: str,
    candidate_path: str,
    auc_tolerance: float,
    logloss_tolerance: float,
    ignore: Tuple[str, ...] = (),
) -> Dict[str, Any]:
    """The comparison, as printed and as written to ``--output``."""
    reference, candidate = load_run(reference_path), load_run(candidate_path)
    differences = job_differences(reference, candidate, ignore)
    rows = metric_rows(
        reference, candidate, {"auc": auc_tolerance, "logloss": logloss_tolerance}
    )
    return {
        "reference": {"path": reference_path, "where": _where(reference)},
        "candidate": {"path": candidate_path, "where": _where(candidate)},
        "world_size": reference["world_size"],
        "steps": reference["steps"],
        "job_differences": differences,
        "metrics": rows,
        "agree": not differences and all(r["ok"] for r in rows),
    }


def format_comparison(result: Dict[str, Any]) -> str:
    ref, cand = result["reference"]["where"], result["candidate"]["where"]
    lines = [
        f"{'':<14} {'reference ' + ref:>22} {'candidate ' + cand:>22} "
        f"{'difference':>11} {'tolerance':>9}"
    ]
    for r in result["metrics"]:

        def show(v: Any) -> str:
            return f"{v:.6f}" if isinstance(v, float) else str(v)

        diff = "-" if r["difference"] is None else f"{r['difference']:+.6f}"
        lines.append(
            f"{r['metric']:<14} {show(r['reference']):>22} {show(r['candidate']):>22} "
            f"{diff:>11} {r['tolerance']:>9g}  {'ok' if r['ok'] else 'DIFFERS'}"
        )
    if result["job_differences"]:
        lines.append("not the same job:")
        lines += [f"  {d}" for d in result["job_differences"]]
    else:
        lines.append(
            f"same job: {result['world_size']} rank(s), {result['steps']} steps, "
            f"identical model and training settings"
        )
    lines.append(
        "result: "
        + ("the runs agree within the tolerances" if result["agree"] else "DIFFERENT")
    )
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    p = CommandLineParser(prog="run_comparison", description=__doc__.split("\n\n")[0])
    p.add_argument("reference", help="metrics.json (or its run directory)")
    p.add_argument("candidate", help="metrics.json (or its run directory)")
    p.add_argument("--auc_tolerance", type=float, default=0.02)
    p.add_argument("--logloss_tolerance", type=float, default=0.02)
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        help="a setting (e.g. train.seed) that may differ; repeatable",
    )
    p.add_argument("--output", default=None, help="write the comparison as JSON here")
    args = p.parse_args(argv)
    outcome: Dict[str, bool] = {}

    def run() -> None:
        result = compare(
            args.reference,
            args.candidate,
            args.auc_tolerance,
            args.logloss_tolerance,
            tuple(args.ignore),
        )
        print(format_comparison(result), flush=True)
        if args.output:
            try:
                with open(args.output, "w") as f:
                    json.dump(result, f, indent=2)
                    f.write("\n")
            except OSError as e:
                raise UserError(f"cannot write {args.output}: {e}")
        outcome["agree"] = result["agree"]

    status = run_command(run)
    if status != 0:
        return status
    return 0 if outcome["agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
