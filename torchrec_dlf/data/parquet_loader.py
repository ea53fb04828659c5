"""Streams a prepared Parquet split into TorchRec batches, each rank reading its own share."""

import math
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from torchrec.datasets.utils import Batch

from torchrec_dlf.background_iterator import BackgroundIterator
from torchrec_dlf.data.batching import make_batch, PADDING_LABEL
from torchrec_dlf.data.metadata import DatasetFormatError, DatasetMetadata, split_files

_Rows = Tuple[np.ndarray, np.ndarray, np.ndarray]  # labels, dense, categorical


@dataclass(frozen=True)
class _Block:
    """One Parquet row group: the unit of reading and of the block-level shuffle."""

    file: int
    row_group: int
    rows: int


class ParquetBatchLoader:
    """
    Iterable of `Batch` over one split of a prepared dataset, for one rank.

    Rank shares:

    * ``mode="train"``: every rank gets the same number of rows, ``N // world_size``
      (the fewer than ``world_size`` rows left over change from epoch to epoch when
      shuffling); with ``shuffle`` the row groups are permuted per epoch (seeded by
      ``seed`` and the epoch) before the split into rank ranges, and rows are shuffled
      within a buffer of ``shuffle_buffer_rows``. ``drop_last`` drops the final partial
      batch.
    * ``mode="eval"``: every row exactly once across ranks, in file order; ranks whose
      share is one row short pad their batches with rows labelled ``PADDING_LABEL`` so
      that all ranks see batches of the same size at every step (collectives never hang).

    A rank reads only the row groups that overlap its range. Batches are built in a
    background thread, ``prefetch_batches`` ahead of the trainer.

    Args:
        directory (str): prepared dataset directory.
        split (str): "train", "valid" or "test".
        batch_size (int): rows per batch on this rank.
        rank (int): this rank.
        world_size (int): number of ranks.
        mode (str): "train" or "eval".
        shuffle (bool): shuffle (train mode).
        seed (int): shuffle seed.
        drop_last (bool): drop the final partial batch (train mode).
        shuffle_buffer_rows (int): rows shuffled together.
        prefetch_batches (int): batches built ahead; 0 builds them in the caller.
        pin_memory (bool): pin batches (for CUDA hosts).
        metadata (Optional[DatasetMetadata]): already-read metadata.

    Example::

        loader = ParquetBatchLoader("data/frappe", "train", 4096, rank, world, shuffle=True)
        for epoch in range(3):
            loader.set_epoch(epoch)
            for batch in loader:
                ...
    """

    def __init__(
        self,
        directory: str,
        split: str,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        mode: str = "train",
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        shuffle_buffer_rows: int = 65536,
        prefetch_batches: int = 4,
        pin_memory: bool = False,
        metadata: Optional[DatasetMetadata] = None,
    ) -> None:
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world of size {world_size}")
        self.metadata: DatasetMetadata = metadata or DatasetMetadata.read(directory)
        self._files = split_files(directory, self.metadata, split)
        self._split = split
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self._mode = mode
        self._shuffle = shuffle
        self._seed = seed
        self._drop_last = drop_last
        self._buffer_rows = max(shuffle_buffer_rows, batch_size)
        self._prefetch = prefetch_batches
        self._pin_memory = pin_memory
        self._epoch = 0
        self._keys = list(self.metadata.categorical)
        self._columns = self.metadata.columns
        self._blocks = self._read_blocks()
        self.num_rows = sum(b.rows for b in self._blocks)
        expected = self.metadata.split(split).rows
        if self.num_rows != expected:
            raise DatasetFormatError(
                f"{directory}: split {split!r} has {self.num_rows} rows in its Parquet "
                f"files but its metadata says {expected}"
            )

    def _read_blocks(self) -> List[_Block]:
        blocks = []
        for i, path in enumerate(self._files):
            md = _open(path).metadata
            names = md.schema.names
            missing = [c for c in self._columns if c not in names]
            if missing:
                raise DatasetFormatError(f"{path}: missing columns {missing}")
            self._check_ranges(path, md, {n: j for j, n in enumerate(names)})
            for g in range(md.num_row_groups):
                rows = md.row_group(g).num_rows
                if rows:
                    blocks.append(_Block(i, g, rows))
        return blocks

    def _check_ranges(self, path: str, md: Any, index: Dict[str, int]) -> None:
        """
        Refuses files whose ids fall outside the vocabularies (a metadata that does not
        describe them, e.g. edited sizes: an id past the table would be looked up in
        another row or fail inside the kernel), labels outside {0, 1} and non-finite
        numbers, from the Parquet statistics alone (no data is read).
        """
        meta = self.metadata
        limits = {c: (0, meta.vocab_sizes[c] - 1) for c in meta.categorical}
        limits[meta.label] = (0, 1)
        for g in range(md.num_row_groups):
            group = md.row_group(g)
            for name, (low, high) in limits.items():
                stats = group.column(index[name]).statistics
                if stats is None or not stats.has_min_max:
                    continue
                if stats.min < low or stats.max > high:
                    what = "label" if name == meta.label else f"field {name}"
                    raise DatasetFormatError(
                        f"{path}: row group {g}, {what} holds values in [{stats.min}, "
                        f"{stats.max}], outside [{low}, {high}] that its metadata allows"
                    )
            for name in meta.numeric:
                stats = group.column(index[name]).statistics
                if stats is None or not stats.has_min_max:
                    continue
                if not (math.isfinite(stats.min) and math.isfinite(stats.max)):
                    raise DatasetFormatError(
                        f"{path}: row group {g}, numeric field {name} holds non-finite "
                        f"values ([{stats.min}, {stats.max}])"
                    )

    def set_epoch(self, epoch: int) -> None:
        """Selects the shuffle of ``epoch`` (call before iterating)."""
        self._epoch = epoch

    # Row ranges ---------------------------------------------------------------------

    def _rank_range(self) -> Tuple[int, int, int]:
        """(first row, end row, rows the rank must yield) in the epoch's row order."""
        n, w, r = self.num_rows, self.world_size, self.rank
        if self._mode == "train":
            q = n // w
            return r * q, (r + 1) * q, q
        base, extra = divmod(n, w)
        start = r * base + min(r, extra)
        end = start + base + (1 if r < extra else 0)
        return start, end, base + (1 if extra else 0)

    def row_range(self) -> Tuple[int, int]:
        """
        [first, end) rows of this rank in the epoch's row order; in eval mode that is the
        order of the files, so ``first + i`` is the split-wide index of the i-th real row
        this rank yields.
        """
        start, end, _ = self._rank_range()
        return start, end

    def __len__(self) -> int:
        """Batches per epoch, the same on every rank."""
        _, _, rows = self._rank_range()
        if self._mode == "train" and self._drop_last:
            return rows // self.batch_size
        return math.ceil(rows / self.batch_size)

    def _block_order(self) -> List[_Block]:
        if self._shuffle:
            rng = np.random.default_rng([self._seed, self._epoch, 0])
            return [self._blocks[i] for i in rng.permutation(len(self._blocks))]
        return self._blocks

    # Reading ------------------------------------------------------------------------

    def _iter_rows(self) -> Iterator[_Rows]:
        """The rank's rows, block by block, in the epoch's order."""
        start, end, _ = self._rank_range()
        handles: Dict[int, pq.ParquetFile] = {}
        offset = 0
        for block in self._block_order():
            lo, hi = max(start, offset), min(end, offset + block.rows)
            offset += block.rows
            if lo >= hi:
                if offset >= end:
                    break
                continue
            if block.file not in handles:
                handles[block.file] = _open(self._files[block.file])
            table = _read_row_group(
                handles[block.file], self._files[block.file], block.row_group, self._columns
            )
            table = table.slice(lo - (offset - block.rows), hi - lo)
            yield self._to_numpy(table)

    def _to_numpy(self, table) -> _Rows:  # pyre-ignore[2]
        meta = self.metadata
        n = table.num_rows
        labels = table.column(meta.label).to_numpy()
        dense = np.empty((n, len(meta.numeric)), dtype=np.float32)
        for j, name in enumerate(meta.numeric):
            dense[:, j] = table.column(name).to_numpy()
        cat = np.empty((n, len(meta.categorical)), dtype=np.int32)
        for j, name in enumerate(meta.categorical):
            cat[:, j] = table.column(name).to_numpy()
        return labels, dense, cat

    def _iter_batches(self, start_batch: int = 0) -> Iterator[Batch]:
        rng = np.random.default_rng([self._seed, self._epoch, 1 + self.rank])
        _, _, rank_rows = self._rank_range()
        num_batches = len(self)
        pending: List[_Rows] = []
        pending_rows = 0
        emitted = 0

        def emit(rows: _Rows) -> Iterator[Batch]:
            nonlocal emitted
            labels, dense, cat = rows
            for a in range(0, labels.shape[0], self.batch_size):
                if emitted == num_batches:
                    return
                b = a + self.batch_size
                if emitted >= start_batch:
                    yield make_batch(labels[a:b], dense[a:b], cat[a:b], self._keys)
                emitted += 1

        for rows in self._iter_rows():
            pending.append(rows)
            pending_rows += rows[0].shape[0]
            if pending_rows < self._buffer_rows:
                continue
            chunk = _concat(pending)
            if self._shuffle:
                chunk = _take(chunk, rng.permutation(pending_rows))
            full = (pending_rows // self.batch_size) * self.batch_size
            yield from emit(_slice(chunk, 0, full))
            pending = [_slice(chunk, full, pending_rows)]
            pending_rows -= full
        if pending_rows:
            chunk = _concat(pending)
            if self._shuffle:
                chunk = _take(chunk, rng.permutation(pending_rows))
            if self._mode == "eval":
                chunk = self._pad(chunk, rank_rows - emitted * self.batch_size)
            yield from emit(chunk)
        if self._mode == "eval" and emitted < num_batches:
            # This rank's share ended on a batch boundary one row short of the others.
            yield from emit(self._pad(None, rank_rows - emitted * self.batch_size))

    def _pad(self, rows: Optional[_Rows], size: int) -> _Rows:
        """Pads ``rows`` to ``size`` rows with a real row (valid ids) labelled as padding."""
        have = 0 if rows is None else rows[0].shape[0]
        missing = size - have
        if missing <= 0:
            assert rows is not None
            return rows
        labels, dense, cat = self._first_row()
        pad = (
            np.full(missing, PADDING_LABEL, dtype=np.float32),
            np.repeat(dense, missing, axis=0),
            np.repeat(cat, missing, axis=0),
        )
        if rows is None:
            return pad
        return (
            np.concatenate([rows[0].astype(np.float32), pad[0]]),
            np.concatenate([rows[1], pad[1]]),
            np.concatenate([rows[2], pad[2]]),
        )

    def _first_row(self) -> _Rows:
        block = self._blocks[0]
        path = self._files[block.file]
        table = _read_row_group(_open(path), path, block.row_group, self._columns)
        return self._to_numpy(table.slice(0, 1))

    # Iteration ----------------------------------------------------------------------

    def __iter__(self) -> Iterator[Batch]:
        return self.iterate()

    def iterate(self, start_batch: int = 0) -> Iterator[Batch]:
        """
        The epoch's batches from ``start_batch`` on, exactly as a full iteration would
        produce them from that point (the shuffle is replayed, the skipped batches are
        not built): how a job resumed mid-epoch continues where it stopped.
        """
        if not 0 <= start_batch <= len(self):
            raise ValueError(f"start_batch {start_batch} outside [0, {len(self)}]")
        batches = self._iter_batches(start_batch)
        if self._pin_memory:
            batches = (b.pin_memory() for b in batches)
        if self._prefetch <= 0:
            return batches
        return BackgroundIterator(batches, self._prefetch, name="parquet-prefetch")


def _open(path: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise DatasetFormatError(f"{path}: not a readable Parquet file ({e})") from e


def _read_row_group(
    handle: pq.ParquetFile, path: str, row_group: int, columns: List[str]
) -> pa.Table:
    try:
        return handle.read_row_group(row_group, columns=columns)
    except (OSError, pa.ArrowException) as e:
        raise DatasetFormatError(
            f"{path}: row group {row_group} cannot be read ({e}); prepare the dataset again"
        ) from e


def _concat(parts: List[_Rows]) -> _Rows:
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # pyre-ignore


def _take(rows: _Rows, index: np.ndarray) -> _Rows:
    return tuple(r[index] for r in rows)  # pyre-ignore


def _slice(rows: _Rows, a: int, b: int) -> _Rows:
    return tuple(r[a:b] for r in rows)  # pyre-ignore
