#!/usr/bin/env python3
"""Runs an experiment (``python -m torchrec_dlf.experiment`` as a script path): models x
seeds on one prepared dataset, then one results table (JSON + Markdown) with mean ± std
per model and the gradient-balance diagnostic. Finished runs are kept, so an interrupted
experiment continues.

    python launch/experiment.py experiments/frappe_x1.json --output_dir results/experiments/frappe_x1
    python launch/experiment.py experiments/frappe_x1.json --models dlf,dcn --seeds 2021 \\
        --output_dir results/tiny -- --limit_train_batches 3

The spec file names the dataset, models, seeds, common train.py flags and per-model
flags (see experiments/*.json); flags after ``--`` are added to every run.
"""

import sys

from torchrec_dlf.experiment import main

if __name__ == "__main__":
    sys.exit(main())
