#!/usr/bin/env python3
"""Trains DLRM_DLF or a TorchRec DLRM baseline.

Runs under torchrun / TorchX (``torchx run dist.ddp -j 1x2 --script launch/train.py --
--interaction_type dlf``) and as a plain ``python launch/train.py`` (one process).
``--help`` lists the flags.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from torchrec_dlf.training.cli import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run())
