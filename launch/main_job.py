#!/usr/bin/env python3
"""The main job: DLRM_DLF against TorchRec's DLRM (dot) and DLRM_DCN on the embedded
default data, each launched through TorchX (``torchx run dist.ddp -j 1x2 --script
launch/train.py -- ...``, local_cwd scheduler from ``.torchxconfig``), then one table.

    python launch/main_job.py [--interactions dot,dcn,dlf] [--nodes_x_procs 1x2]
                              [-- <extra launch/train.py flags>]

``python -m torchrec_dlf.main_job`` runs the same job from any directory.
"""

import os
import sys

from torchrec_dlf.main_job import Launch, main

# TorchX starts in this checkout, which holds the script and .torchxconfig (local_cwd
# scheduler, logs in results/torchx).
CHECKOUT = Launch(
    entry=["--script", "launch/train.py"],
    scheduler=None,
    logs="results/torchx",
    cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
)

if __name__ == "__main__":
    sys.exit(main(launch=CHECKOUT))
