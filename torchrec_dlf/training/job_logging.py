"""The training job's log lines: Python logging, rank-prefixed off rank 0."""

import logging
import os
import sys
from typing import Optional

from torchrec_dlf.training.quiet import LIBRARY_LOGGERS

# The logger of this project's progress lines (`report.say`).
LOGGER_NAME = "torchrec_dlf"
_HANDLER_NAME = "torchrec_dlf.job"


class _CurrentStdout(logging.Handler):
    """Writes to whatever ``sys.stdout`` is when a record is emitted (so a caller's
    redirection is honoured), flushed line by line like ``print(..., flush=True)``."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


class RankFormatter(logging.Formatter):
    """Rank 0's lines as they are (the job's output, which tests and users read);
    every line of another rank starts with ``[rank <r>]``. The rank is the record's
    ``rank`` (``extra={"rank": r}``), else this process's."""

    def __init__(self, rank: int, fmt: Optional[str] = None) -> None:
        super().__init__(fmt)
        self.rank = rank

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rank = getattr(record, "rank", self.rank)
        if rank == 0:
            return text
        return "\n".join(f"[rank {rank}] {line}" for line in text.splitlines())


def configure_logging(rank: Optional[int] = None, verbose: bool = False) -> None:
    """
    Progress lines (`job_logger`) go to stdout from INFO up (rank 0's, see
    `report.say`), and from DEBUG up with ``verbose`` (the other ranks' too).
    ``verbose`` also shows the libraries' own logs (TorchRec's planner and pipeline,
    torch.distributed, FBGEMM) from INFO up on stderr through the root logger's one
    handler, each line prefixed with its rank. ``rank`` defaults to ``$RANK``.
    Calling it again replaces the earlier set-up.
    """
    if rank is None:
        rank = int(os.environ.get("RANK", "0"))
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler = _CurrentStdout()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(RankFormatter(rank))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    root = logging.getLogger()
    for old in list(root.handlers):
        # With verbose, also the default handler a library's basicConfig added (its
        # lines would come twice, without the rank).
        if verbose or old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
    if verbose:
        libraries = logging.StreamHandler(sys.stderr)
        libraries.set_name(_HANDLER_NAME)
        libraries.setFormatter(
            logging.Formatter(f"[rank {rank}] %(levelname)s %(name)s: %(message)s")
        )
        root.addHandler(libraries)
        for name in LIBRARY_LOGGERS:  # what `quiet_library_messages` may have raised
            logging.getLogger(None if name == "root" else name).setLevel(logging.NOTSET)
        root.setLevel(logging.INFO)


def job_logger() -> logging.Logger:
    """The progress-line logger, set up with `configure_logging`'s defaults when
    nothing set it up yet (the trainer used as a library)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(h.get_name() == _HANDLER_NAME for h in logger.handlers):
        configure_logging()
    return logger
