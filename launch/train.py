#!/usr/bin/env python3
"""Trains DLRM_DLF or a TorchRec DLRM baseline: ``python -m torchrec_dlf.train`` as a
script path, for TorchX and torchrun.

Runs under torchrun / TorchX (``torchx run dist.ddp -j 1x2 --script launch/train.py --
--interaction_type dlf``) and as a plain ``python launch/train.py`` (one process).
``--help`` lists the flags.
"""

import sys

from torchrec_dlf.train import main

if __name__ == "__main__":
    sys.exit(main())
