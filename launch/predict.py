#!/usr/bin/env python3
"""Batch prediction from a checkpoint (``python -m torchrec_dlf.predict`` as a script
path, for TorchX and torchrun), writing Parquet with the row index and the predicted
probability.

    python launch/predict.py --checkpoint results/ckpt/best --dataset_dir data/frappe \\
        --split test --output results/predictions/test
    torchx run dist.ddp -j 1x2 --script launch/predict.py -- --checkpoint ...

Raw files are scored after preparing them with the training data's vocabulary.
"""

import sys

from torchrec_dlf.predict import main

if __name__ == "__main__":
    sys.exit(main())
