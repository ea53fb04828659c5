"""Cuts a stream of row blocks into batches through a shuffle buffer."""

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from torchrec_dlf.data.rows import Rows, concat_rows, num_rows, slice_rows, take_rows

# pad(rows or None, size) -> rows padded to size rows
PadFn = Callable[[Optional[Rows], int], Rows]


@dataclass(frozen=True)
class BatchLayout:
    """
    How one rank's rows become its batches in one epoch.

    Args:
        batch_size (int): rows per batch.
        buffer_rows (int): rows gathered (and shuffled together) before batches are cut.
        num_batches (int): batches of the epoch; none is cut past it.
        rows (int): rows the rank yields, padding included.
        shuffle_seed (Optional[Tuple[int, ...]]): seeds the shuffle within the buffer;
            None keeps the rows in order.
        pad (bool): pad the end up to ``rows`` (evaluation).
    """

    batch_size: int
    buffer_rows: int
    num_batches: int
    rows: int
    shuffle_seed: Optional[Tuple[int, ...]]
    pad: bool


def buffered_batches(
    blocks: Iterable[Rows], layout: BatchLayout, pad: PadFn
) -> Iterator[Tuple[int, Rows]]:
    """
    ``(flush, rows)`` for each of the epoch's ``layout.num_batches`` batches, in order.
    Blocks are gathered until the buffer holds ``buffer_rows`` rows; the buffer is then
    shuffled (with ``shuffle_seed``) and flushed: its whole batches are cut, the rest
    stays for the next flush. ``flush`` numbers the flushes. At the end the rest is
    shuffled and cut too, padded (``layout.pad``) with ``pad`` so the rank yields
    ``layout.rows`` rows. Works on any row tuples (data or row positions): the same
    blocks sizes give the same cuts and the same shuffle.
    """
    size = layout.batch_size
    seed = layout.shuffle_seed
    rng = None if seed is None else np.random.default_rng(list(seed))
    pending: List[Rows] = []
    pending_rows = 0
    emitted = flush = 0

    def cut(rows: Rows) -> Iterator[Tuple[int, Rows]]:
        nonlocal emitted
        for a in range(0, num_rows(rows), size):
            if emitted == layout.num_batches:
                return
            emitted += 1
            yield flush, slice_rows(rows, a, a + size)

    def buffer() -> Rows:
        chunk = concat_rows(pending)
        if rng is not None:
            chunk = take_rows(chunk, rng.permutation(pending_rows))
        return chunk

    for rows in blocks:
        pending.append(rows)
        pending_rows += num_rows(rows)
        if pending_rows < layout.buffer_rows:
            continue
        chunk = buffer()
        full = (pending_rows // size) * size
        yield from cut(slice_rows(chunk, 0, full))
        flush += 1
        pending = [slice_rows(chunk, full, pending_rows)]
        pending_rows -= full
    if pending_rows:
        chunk = buffer()
        if layout.pad:
            chunk = pad(chunk, layout.rows - emitted * size)
        yield from cut(chunk)
        flush += 1
    if layout.pad and emitted < layout.num_batches:
        # This rank's share ended on a batch boundary one row short of the others.
        yield from cut(pad(None, layout.rows - emitted * size))
