"""Exports a checkpoint for serving: one TorchScript file (unsharded, int8 embedding
tables, scripted dense part) plus a JSON manifest.

    python -m torchrec_dlf.export --checkpoint results/ckpt/best --output results/model.pt

Also installed as ``torchrec-dlf-export``.
"""

import sys
from typing import List, Optional

from torchrec_dlf.inference.serving_export import run


def main(argv: Optional[List[str]] = None) -> int:
    """Exit status 0, or 2 after one ``error: ...`` line for a user error."""
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
