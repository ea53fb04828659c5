"""Trains DLRM_DLF or a TorchRec DLRM baseline.

    python -m torchrec_dlf.train --interaction_type dlf ...      # one process
    torchx run dist.ddp -j 1x2 launch/train.py -- --interaction_type dlf
    torchx run dist.ddp -j 1x2 --script launch/train.py -- --interaction_type dlf
    torchx run dist.ddp -j 1x2 -m torchrec_dlf.train -- ...       # outside the checkout

In the checkout, ``.torchxconfig`` makes ``launch/train.py`` the default ``--script`` of
``dist.ddp``, so the script's path may also come first among its own arguments; it is
dropped (with a ``--`` right after it). Because of that default, ``-m`` from the
checkout is refused by TorchX; use it from other directories. Also installed as
``torchrec-dlf-train``. ``--help`` lists the flags.
"""

import os
import sys
from typing import List, Optional

from torchrec_dlf.training import cli
from torchrec_dlf.user_errors import ConfigError, mark_before_process_group, run_command


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def script_arguments(script: str, argv: List[str]) -> List[str]:
    """
    The training flags of ``script`` (``sys.argv[0]``) run with ``argv``
    (``sys.argv[1:]``). ``torchx run dist.ddp -j 2x8 launch/train.py -- <flags>`` with
    the checkout's default ``--script launch/train.py`` runs ``launch/train.py
    launch/train.py -- <flags>``: a leading path of ``script`` itself is dropped, and a
    ``--`` right after it. Any other leading ``.py`` path is refused in one line (the
    job would run this script, not that one).
    """
    if not argv or argv[0].startswith("-"):
        return list(argv)
    first = argv[0]
    if _same_file(first, script):
        rest = argv[1:]
        return rest[1:] if rest[:1] == ["--"] else rest
    if first.endswith(".py"):
        missing = "" if os.path.isfile(first) else " (no such file)"
        raise mark_before_process_group(
            ConfigError(
                f"{first}{missing} given before the flags, but this job runs {script}, "
                f"which takes flags only (to launch another script: torchx run "
                f"dist.ddp --script {first} ...)"
            )
        )
    return list(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Exit status 0, or 2 after one ``error: ...`` line for a user error."""

    def train() -> object:
        if argv is None:
            return cli.main(script_arguments(sys.argv[0], sys.argv[1:]))
        return cli.main(argv)

    return run_command(train)


if __name__ == "__main__":
    sys.exit(main())
