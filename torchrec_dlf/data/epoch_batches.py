"""One rank's batches of one epoch: which rows, in which order, cut into which batches."""

from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import numpy as np
from torchrec.datasets.utils import Batch

from torchrec_dlf.data.rank_share import RankShare
from torchrec_dlf.data.row_groups import RowGroup, RowGroupIndex, RowGroupReader
from torchrec_dlf.data.rows import Rows, num_rows, pad_rows, rows_batch, table_rows
from torchrec_dlf.data.shuffle_buffer import BatchLayout, buffered_batches

# A row position of padding in `EpochBatches.plan`.
PAD_POSITION = -1


@dataclass(frozen=True)
class RowSlice:
    """Rows [lo, hi) of ``group``: rows [start, start + hi - lo) of the rank's stream."""

    group: RowGroup
    lo: int
    hi: int
    start: int


def rank_slices(order: List[RowGroup], share: RankShare) -> List[RowSlice]:
    """The parts of the row groups, taken in ``order``, that fall in ``share``."""
    slices = []
    offset = stream = 0
    for group in order:
        lo, hi = max(share.start, offset), min(share.end, offset + group.rows)
        if lo < hi:
            slices.append(RowSlice(group, lo - offset, hi - offset, stream))
            stream += hi - lo
        offset += group.rows
        if offset >= share.end:
            break
    return slices


class EpochBatches:
    """
    The batches of one rank in one epoch. The rank's row stream is its slices of the
    row groups in the epoch's order; `buffered_batches` cuts it into batches. Only the
    row groups that overlap the rank's share are read.

    Args:
        index (RowGroupIndex): the split's row groups.
        order (List[RowGroup]): the epoch's row-group order.
        share (RankShare): the rank's rows.
        layout (BatchLayout): batch size, shuffle buffer, padding.
    """

    def __init__(
        self,
        index: RowGroupIndex,
        order: List[RowGroup],
        share: RankShare,
        layout: BatchLayout,
    ) -> None:
        self.index = index
        self.layout = layout
        self.slices = rank_slices(order, share)
        self.keys = list(index.metadata.categorical)
        self._first_row: Optional[Rows] = None

    def __len__(self) -> int:
        return self.layout.num_batches

    def batches(self, start_batch: int = 0) -> Iterator[Batch]:
        """The batches from ``start_batch`` on (the skipped ones are not built)."""
        cuts = buffered_batches(self._blocks(), self.layout, self.pad)
        for i, (_, rows) in enumerate(cuts):
            if i >= start_batch:
                yield rows_batch(rows, self.index.metadata)

    def plan(self, start_batch: int = 0) -> Iterator[Tuple[int, np.ndarray]]:
        """
        ``(flush, positions)`` of the batches from ``start_batch`` on, as `batches`
        cuts them, without reading data: ``positions`` are the rows' positions in
        the rank's stream (`PAD_POSITION` for padding), ``flush`` numbers the
        shuffle-buffer flushes (see `buffered_batches`).
        """
        positions = (
            (np.arange(s.start, s.start + s.hi - s.lo, dtype=np.int64),)
            for s in self.slices
        )
        cuts = buffered_batches(positions, self.layout, _pad_positions)
        for i, (flush, (rows,)) in enumerate(cuts):
            if i >= start_batch:
                yield flush, rows

    def pad(self, rows: Optional[Rows], size: int) -> Rows:
        """``rows`` padded to ``size`` rows (see `pad_rows`)."""
        return pad_rows(rows, size, self.first_row())

    def first_row(self) -> Rows:
        """The split's first row, copied into padding."""
        if self._first_row is None:
            group = self.index.groups[0]
            table = RowGroupReader(self.index).read(group)
            self._first_row = table_rows(
                table.slice(0, 1),
                self.index.metadata,
                self.index.files[group.file],
                self.index.file_row(group),
            )
        return self._first_row

    def _blocks(self) -> Iterator[Rows]:
        reader = RowGroupReader(self.index)
        for s in self.slices:
            table = reader.read(s.group).slice(s.lo, s.hi - s.lo)
            path = self.index.files[s.group.file]
            first = self.index.file_row(s.group) + s.lo
            yield table_rows(table, self.index.metadata, path, first)


def _pad_positions(rows: Optional[Rows], size: int) -> Rows:
    have = 0 if rows is None else num_rows(rows)
    if size <= have:
        assert rows is not None
        return rows
    pad = np.full(size - have, PAD_POSITION, dtype=np.int64)
    return (pad if rows is None else np.concatenate([rows[0], pad]),)
