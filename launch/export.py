#!/usr/bin/env python3
"""Exports a checkpoint for serving (``python -m torchrec_dlf.export`` as a script path):
one TorchScript file (unsharded, int8 embedding tables, scripted dense part) plus a JSON
manifest.

    python launch/export.py --checkpoint results/ckpt/best --output results/model.pt
"""

import sys

from torchrec_dlf.export import main

if __name__ == "__main__":
    sys.exit(main())
