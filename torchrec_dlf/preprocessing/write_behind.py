"""Parquet writing on a background thread, overlapping the encoding of the next rows."""

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Deque

import pyarrow as pa

from torchrec_dlf.data.writer import PreparedDatasetWriter


class WriteBehind:
    """
    Hands tables to `PreparedDatasetWriter` from one background thread, in order, so
    that Parquet encoding (which releases the GIL) overlaps the encoding of the next
    rows; at most ``depth`` tables wait.
    """

    def __init__(self, writer: PreparedDatasetWriter, depth: int = 2) -> None:
        self._writer = writer
        self._depth = depth
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="parquet-writer")
        self._pending: Deque[Future] = deque()

    def write(self, split: str, table: pa.Table) -> None:
        self._pending.append(self._pool.submit(self._writer.write_table, split, table))
        while len(self._pending) > self._depth:
            self._pending.popleft().result()

    def drain(self) -> None:
        """Waits for every table handed over (and raises the first failure)."""
        while self._pending:
            self._pending.popleft().result()

    def __enter__(self) -> "WriteBehind":
        return self

    def __exit__(self, *exc: object) -> None:
        # Before the writer commits or aborts, nothing may still be writing.
        self._pool.shutdown(wait=True, cancel_futures=True)
