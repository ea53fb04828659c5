"""Runs an experiment: models x seeds through ``python -m torchrec_dlf.train`` on one
prepared dataset, then one results table (JSON + Markdown) with mean ± std per model and
the gradient-balance diagnostic. Finished runs are kept, so an interrupted experiment
continues.

    python -m torchrec_dlf.experiment experiments/frappe_x1.json \\
        --output_dir results/experiments/frappe_x1
    python -m torchrec_dlf.experiment experiments/frappe_x1.json --models dlf,dcn \\
        --seeds 2021 --output_dir results/tiny -- --limit_train_batches 3

The spec file names the dataset, models, seeds, common training flags and per-model
flags (see experiments/*.json); flags after ``--`` are added to every run. Also
installed as ``torchrec-dlf-experiment`` and run by ``launch/experiment.py``.
"""

import argparse
import os
import sys
from typing import List, Optional, Tuple

from torchrec_dlf.experiments.gradient_plot import plot_gradient_norms
from torchrec_dlf.experiments.runner import (
    ExperimentSpec,
    run_grid,
    run_name,
    summarize,
    write_outputs,
)


def split_extra(argv: List[str]) -> Tuple[List[str], List[str]]:
    """``argv`` before ``--`` and the flags after it (passed to every run)."""
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]


def parse_args(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    p.add_argument("spec", help="experiment spec (JSON)")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--models", default=None, help="subset of the spec's models")
    p.add_argument("--seeds", default=None, help="override the spec's seeds")
    p.add_argument("--dataset_dir", default=None, help="override the spec's dataset")
    p.add_argument(
        "--report_only",
        action="store_true",
        help="run nothing: tabulate the runs finished so far",
    )
    return p.parse_args(argv)


def load_spec(args: argparse.Namespace) -> ExperimentSpec:
    """The spec file with the command line's overrides."""
    spec = ExperimentSpec.load(args.spec)
    if args.models:
        spec.models = args.models.split(",")
    if args.seeds:
        spec.seeds = [int(s) for s in args.seeds.split(",")]
    if args.dataset_dir:
        spec.dataset_dir = args.dataset_dir
    return spec


def main(argv: Optional[List[str]] = None) -> int:
    own, extra = split_extra(sys.argv[1:] if argv is None else list(argv))
    args = parse_args(own)
    spec = load_spec(args)
    runs = run_grid(spec, args.output_dir, extra, run_missing=not args.report_only)
    summary = summarize(spec, runs)
    paths = write_outputs(summary, spec, args.output_dir)
    compare = [
        run_name(m, spec.seeds[0]) for m in ("dlf", "dlf_concat") if m in spec.models
    ]
    plot = os.path.join(args.output_dir, "gradient_norms.png")
    if compare and plot_gradient_norms(
        os.path.join(args.output_dir, "runs"), compare, plot
    ):
        print(f"[experiment] gradient norms plotted: {plot}")
    with open(paths["md"]) as f:
        print(f.read())
    print(f"[experiment] results: {paths['json']} and {paths['md']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
