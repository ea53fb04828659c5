"""Trains DLRM_DLF or a TorchRec DLRM baseline.

    python -m torchrec_dlf.train --interaction_type dlf ...      # one process
    torchx run dist.ddp -j 1x2 -m torchrec_dlf.train -- --interaction_type dlf
    torchx run dist.ddp -j 1x2 --script launch/train.py -- --interaction_type dlf

Also installed as ``torchrec-dlf-train``. ``--help`` lists the flags.
"""

import sys
from typing import List, Optional

from torchrec_dlf.training.cli import run


def main(argv: Optional[List[str]] = None) -> int:
    """Exit status 0, or 2 after one ``error: ...`` line for a user error."""
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
