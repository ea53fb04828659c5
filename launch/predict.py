#!/usr/bin/env python3
"""Batch prediction from a checkpoint, on any number of ranks (plain python, torchrun or
TorchX), writing Parquet with the row index and the predicted probability.

    python launch/predict.py --checkpoint results/ckpt/best --dataset_dir data/frappe \\
        --split test --output results/predictions/test
    torchx run dist.ddp -j 1x2 --script launch/predict.py -- --checkpoint ...

Raw files are scored after preparing them with the training data's vocabulary.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from torchrec_dlf.inference.batch_prediction import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run())
