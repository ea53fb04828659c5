"""
The epoch's batches built in `torch.utils.data.DataLoader` worker processes.

The batches are cut into segments of whole shuffle-buffer flushes; worker ``k`` of
``W`` builds segments ``k, k + W, ...``. Every worker replays the epoch's cuts on row
positions alone (`EpochBatches.plan`, no data read), reads the row groups that hold
its segments' rows and builds their batches; the DataLoader hands the segments back
in turn, so the batches come in exactly the order, and with exactly the contents,
that `EpochBatches.batches` gives. A segment's rows are those of its flushes' row
groups plus the rows a shuffle left in the buffer from the flush before, so a
worker also reads row groups of the segment before its own: reading is repeated for
about one flush in every segment.
"""

import math
from typing import Callable, Iterator, List, Optional, Tuple, Union

import numpy as np
import pyarrow as pa
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from torchrec.datasets.utils import Batch

from torchrec_dlf.data.batching import bag_arrays, tensor_batch
from torchrec_dlf.data.epoch_batches import PAD_POSITION, EpochBatches
from torchrec_dlf.data.metadata import DatasetFormatError
from torchrec_dlf.data.row_groups import RowGroupReader
from torchrec_dlf.data.rows import Rows, concat_rows, table_rows

# Shuffle-buffer flushes per segment (the unit a worker builds).
SEGMENT_FLUSHES = 2


def segments(plan: Iterator, min_batches: int) -> Iterator[List[np.ndarray]]:
    """The positions of the plan's batches grouped into runs of whole flushes of at
    least ``min_batches`` batches (the last run may be shorter)."""
    current: List[np.ndarray] = []
    last = None
    for flush, positions in plan:
        if current and flush != last and len(current) >= min_batches:
            yield current
            current = []
        current.append(positions)
        last = flush
    if current:
        yield current


# A segment as it crosses from a worker: labels, dense rows, key-major ids of each
# batch one after the other, and the batch sizes; for a multi-hot dataset also the
# key-major lengths of each batch one after the other and the weights (empty when
# the dataset has none).
SegmentTensors = Tuple[torch.Tensor, ...]


class SegmentBuilder:
    """Builds the batches of one segment from the row groups that hold its rows."""

    def __init__(self, epoch: EpochBatches) -> None:
        self._epoch = epoch
        self._reader = RowGroupReader(epoch.index)
        self._starts = np.array([s.start for s in epoch.slices], dtype=np.int64)

    def build(self, batches: List[np.ndarray]) -> SegmentTensors:
        """
        The segment's batches, one per array of row positions, as `segment_batches`
        reads them: what `make_batch` builds from the same rows, in four tensors.
        """
        everything = np.concatenate(batches)
        needed, lookup = _store_index(everything)
        store = self._read(needed)
        if (everything == PAD_POSITION).any():
            store = concat_rows([store, self._epoch.pad(None, 1)])
        if self._epoch.index.metadata.multi_hot:
            return self._build_bags(batches, store, lookup)
        total, features = len(everything), store[2].shape[1]
        out = (
            _shared((total,), torch.float32),
            _shared((total, store[1].shape[1]), torch.float32),
            _shared((total * features,), torch.int64),
        )
        labels, dense, values = (t.numpy() for t in out)
        a = 0
        for positions in batches:
            n = len(positions)
            index = lookup(positions)
            labels[a : a + n] = store[0][index]
            dense[a : a + n] = store[1][index]
            values[a * features : (a + n) * features].reshape(features, n)[:] = store[
                2
            ][index].T
            a += n
        sizes = torch.tensor([len(p) for p in batches], dtype=torch.int64)
        return out + (sizes,)

    def _build_bags(
        self,
        batches: List[np.ndarray],
        store: Rows,
        lookup: Callable[[np.ndarray], np.ndarray],
    ) -> SegmentTensors:
        """`build` for multi-hot rows: the batches' KJT arrays one after the other."""
        slots = self._epoch.index.metadata.bag_slots()
        total = sum(len(p) for p in batches)
        labels = _shared((total,), torch.float32)
        dense = _shared((total, store[1].shape[1]), torch.float32)
        values, lengths, weights = [], [], []
        a = 0
        for positions in batches:
            n = len(positions)
            index = lookup(positions)
            labels.numpy()[a : a + n] = store[0][index]
            dense.numpy()[a : a + n] = store[1][index]
            ids, counts, *rest = (r[index] for r in store[2:])
            v, c, w = bag_arrays(ids, counts, rest[0] if rest else None, slots)
            values.append(v)
            lengths.append(c)
            if w is not None:
                weights.append(w)
            a += n
        sizes = torch.tensor([len(p) for p in batches], dtype=torch.int64)
        parts = (
            (values, torch.int64),
            (lengths, torch.int32),
            (weights, torch.float32),
        )
        flat = []
        for arrays, dtype in parts:
            joined = np.concatenate(arrays) if arrays else np.zeros(0)
            t = _shared(joined.shape, dtype)
            t.numpy()[:] = joined
            flat.append(t)
        return (labels, dense, flat[0], sizes, flat[1], flat[2])

    def _read(self, needed: np.ndarray) -> Rows:
        """The rows at the sorted positions ``needed``, in that order."""
        meta = self._epoch.index.metadata
        which = np.searchsorted(self._starts, needed, side="right") - 1
        parts: List[Rows] = []
        for run in np.split(np.arange(len(needed)), np.flatnonzero(np.diff(which)) + 1):
            if not len(run):
                continue
            s = self._epoch.slices[which[run[0]]]
            table = self._reader.read(s.group)
            local = needed[run] - s.start + s.lo
            first = self._epoch.index.file_row(s.group)
            rows: Union[int, np.ndarray] = first + local
            if len(local) == local[-1] - local[0] + 1:  # contiguous
                table = table.slice(int(local[0]), len(local))
                rows = first + int(local[0])
            else:
                table = table.take(pa.array(local))
            path = self._epoch.index.files[s.group.file]
            read = table_rows(table, meta, path, rows)
            parts.append((read[0].astype(np.float32),) + read[1:])
        if not parts:
            return tuple(r[:0] for r in self._epoch.pad(None, 1))
        return concat_rows(parts)


def _shared(shape: Tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An empty tensor, in shared memory inside a worker (so that handing it to the
    main process copies nothing)."""
    t = torch.empty(shape, dtype=dtype)
    return t.share_memory_() if get_worker_info() is not None else t


def _store_index(
    positions: np.ndarray,
) -> Tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """
    The sorted distinct real positions of ``positions`` and a function from positions
    to their index among them (`PAD_POSITION`: one past the last).
    """
    real = positions[positions != PAD_POSITION]
    if not len(real):
        return real, lambda p: np.zeros(len(p), dtype=np.int64)
    low, high = int(real.min()), int(real.max())
    if high - low > 4 * len(real) + (1 << 20):  # sparse: sort instead
        needed = np.unique(real)

        def sorted_lookup(p: np.ndarray) -> np.ndarray:
            index = np.searchsorted(needed, p)
            index[p == PAD_POSITION] = len(needed)
            return index

        return needed, sorted_lookup
    seen = np.zeros(high - low + 2, dtype=bool)
    seen[real - low] = True
    needed = np.flatnonzero(seen[:-1]) + low
    rank = np.cumsum(seen) - 1
    rank[-1] = len(needed)  # where PAD_POSITION (-1) lands

    def dense_lookup(p: np.ndarray) -> np.ndarray:
        return rank[np.where(p == PAD_POSITION, high - low + 1, p - low)]

    return needed, dense_lookup


def segment_batches(segment: SegmentTensors, keys: List[str]) -> Iterator[Batch]:
    """The batches of a segment, as views of its tensors."""
    if len(segment) > 4:
        yield from _bag_segment_batches(segment, keys)
        return
    labels, dense, values, sizes = segment
    a = 0
    for n in sizes.tolist():
        yield tensor_batch(
            labels[a : a + n],
            dense[a : a + n],
            values[a * len(keys) : (a + n) * len(keys)],
            keys,
            n,
        )
        a += n


def _bag_segment_batches(segment: SegmentTensors, keys: List[str]) -> Iterator[Batch]:
    """`segment_batches` of a multi-hot segment."""
    labels, dense, values, sizes, lengths, weights = segment
    a = v = 0
    features = len(keys)
    for n in sizes.tolist():
        counts = lengths[a * features : (a + n) * features]
        m = int(counts.sum())
        yield tensor_batch(
            labels[a : a + n],
            dense[a : a + n],
            values[v : v + m],
            keys,
            n,
            counts,
            weights[v : v + m] if weights.numel() else None,
        )
        a += n
        v += m


class EpochBatchDataset(IterableDataset):
    """
    The segments (lists of batches) of one epoch from ``start_batch`` on; in a
    DataLoader with ``W`` workers, worker ``k`` yields segments ``k, k + W, ...``.

    Args:
        epoch (EpochBatches): the rank's epoch.
        start_batch (int): first batch.
        flushes_per_segment (int): shuffle-buffer flushes per segment.
    """

    def __init__(
        self,
        epoch: EpochBatches,
        start_batch: int = 0,
        flushes_per_segment: int = SEGMENT_FLUSHES,
    ) -> None:
        super().__init__()
        self.epoch = epoch
        self.start_batch = start_batch
        layout = epoch.layout
        per_flush = max(1, layout.buffer_rows // layout.batch_size)
        self.min_batches = per_flush * flushes_per_segment

    def __iter__(self) -> Iterator[Union[SegmentTensors, DatasetFormatError]]:
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        builder = SegmentBuilder(self.epoch)
        plan = self.epoch.plan(self.start_batch)
        for i, segment in enumerate(segments(plan, self.min_batches)):
            if i % workers != worker:
                continue
            try:
                yield builder.build(segment)
            except DatasetFormatError as e:  # re-raised as it is by the consumer
                yield e
                return


class WorkerBatchIterator:
    """
    Iterator of the epoch's batches, built by ``workers`` DataLoader worker processes
    about ``prefetch_batches`` batches ahead. ``close`` (also called at the end, and
    by the DataLoader when the iterator is dropped) shuts the workers down the
    DataLoader's way.
    """

    def __init__(
        self,
        epoch: EpochBatches,
        start_batch: int,
        workers: int,
        prefetch_batches: int = 4,
        pin_memory: bool = False,
    ) -> None:
        dataset = EpochBatchDataset(epoch, start_batch)
        per_worker = math.ceil(
            max(1, prefetch_batches) / (dataset.min_batches * workers)
        )
        loader = DataLoader(
            dataset,
            batch_size=None,
            num_workers=workers,
            prefetch_factor=max(1, per_worker),
            pin_memory=pin_memory,
        )
        self._keys = epoch.keys
        self._segments: Optional[Iterator] = iter(loader)
        self._workers = list(getattr(self._segments, "_workers", []))
        self._current: Iterator[Batch] = iter(())

    def __iter__(self) -> "WorkerBatchIterator":
        return self

    def __next__(self) -> Batch:
        while True:
            batch = next(self._current, None)
            if batch is not None:
                return batch
            if self._segments is None:
                raise StopIteration
            try:
                segment = next(self._segments)
            except StopIteration:
                self.close()
                raise
            if isinstance(segment, DatasetFormatError):
                self.close()
                raise segment
            self._current = segment_batches(segment, self._keys)

    def close(self) -> None:
        """Stops the workers (the batches not yet taken are dropped)."""
        segments, self._segments = self._segments, None
        self._current = iter(())
        shutdown = getattr(segments, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()

    def __enter__(self) -> "WorkerBatchIterator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        """Whether a worker process is alive."""
        return any(w.is_alive() for w in self._workers)
