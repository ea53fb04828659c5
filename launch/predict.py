#!/usr/bin/env python3
"""Batch prediction from a checkpoint, on any number of ranks (plain python, torchrun or
TorchX), writing Parquet with the row index and the predicted probability.

    python launch/predict.py --checkpoint results/ckpt/best --dataset_dir data/frappe \\
        --split test --output results/predictions/test
    torchx run dist.ddp -j 1x2 --script launch/predict.py -- --checkpoint ...

Raw files are scored after preparing them with the training data's vocabulary.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from torchrec_dlf.inference.batch_prediction import predict_split  # noqa: E402
from torchrec_dlf.training.distributed import destroy_distributed, init_distributed  # noqa: E402
from torchrec_dlf.training.quiet import quiet_library_messages  # noqa: E402
from torchrec_dlf.training.sharding import SHARDING_CHOICES  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("--checkpoint", required=True, help="a step_* or best/ checkpoint directory")
    p.add_argument("--dataset_dir", required=True, help="prepared dataset to score")
    p.add_argument("--split", default="test")
    p.add_argument("--output", required=True, help="output directory (part-<rank>.parquet)")
    p.add_argument("--batch_size", type=int, default=8192)
    p.add_argument("--sharding", choices=SHARDING_CHOICES, default="auto")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    args = p.parse_args()
    quiet_library_messages()
    ctx = init_distributed(args.device)
    try:
        stats = predict_split(
            args.checkpoint, args.dataset_dir, args.split, args.output, ctx,
            args.batch_size, args.sharding,
        )
        print(f"[predict] rank {ctx.rank}: {stats['rows']} rows from row {stats['first_row']}", flush=True)
        if ctx.is_rank_zero:
            print(f"[predict] predictions written to {os.path.abspath(args.output)}", flush=True)
    finally:
        destroy_distributed()


if __name__ == "__main__":
    main()
