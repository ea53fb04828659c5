#!/usr/bin/env python3
"""Trains DLRM_DLF or a TorchRec DLRM baseline: ``python -m torchrec_dlf.train`` as a
script path, for TorchX and torchrun.

Runs under torchrun / TorchX (``torchx run dist.ddp -j 1x2 launch/train.py --
--interaction_type dlf``: ``.torchxconfig`` makes this file dist.ddp's default
``--script``, and the path given again as its first argument is dropped; ``--script
launch/train.py`` works as well) and as a plain ``python launch/train.py`` (one process).
``--help`` lists the flags.
"""

import sys

from torchrec_dlf.train import main

if __name__ == "__main__":
    sys.exit(main())
