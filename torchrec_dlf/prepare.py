"""Prepares a CTR dataset for torchrec_dlf (Parquet splits + metadata.json).

    python -m torchrec_dlf.prepare criteo train.txt --output data/criteo_kaggle

The same command as ``datasets/prepare.py`` (whose docstring lists every source), also
installed as ``torchrec-dlf-prepare``. Exit status: 0 when prepared; 2 for a user error;
143 when stopped by SIGTERM.
"""

import sys
from typing import List, Optional

from torchrec_dlf.preprocessing.cli import main as _prepare


def main(argv: Optional[List[str]] = None) -> int:
    """Exit status 0, 2 for a user error (one ``error:`` line), 143 on SIGTERM."""
    return _prepare(argv)


if __name__ == "__main__":
    sys.exit(main())
