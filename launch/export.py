#!/usr/bin/env python3
"""Exports a checkpoint for serving: one TorchScript file (unsharded, int8 embedding
tables, scripted dense part) plus a JSON manifest.

    python launch/export.py --checkpoint results/ckpt/best --output results/model.pt
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from torchrec_dlf.inference.serving_export import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run())
