"""SIGTERM as an exception, so that a stopped preparation cleans up like Ctrl-C does."""

import signal
from contextlib import contextmanager
from typing import Any, Iterator

# Exit status of a run stopped by SIGTERM (128 + the signal's number, as a shell says).
TERMINATED_EXIT = 128 + signal.SIGTERM


class Terminated(SystemExit):
    """SIGTERM arrived: unwinds like an exception so every ``finally`` cleans up."""


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """
    While inside, SIGTERM raises `Terminated` in the main thread (by default it kills
    the process on the spot, leaving spill files and temporary directories behind).
    The previous handler is restored on the way out.
    """

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(TERMINATED_EXIT)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
