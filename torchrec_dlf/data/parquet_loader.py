"""Streams a prepared Parquet split into TorchRec batches, each rank reading its own share."""

from typing import Iterator, Optional, Tuple

from torchrec.datasets.utils import Batch

from torchrec_dlf.background_iterator import BackgroundIterator
from torchrec_dlf.data.epoch_batches import EpochBatches
from torchrec_dlf.data.metadata import DatasetFormatError, DatasetMetadata, split_files
from torchrec_dlf.data.rank_share import RankShare
from torchrec_dlf.data.row_groups import RowGroupIndex
from torchrec_dlf.data.shuffle_buffer import BatchLayout
from torchrec_dlf.data.worker_loader import WorkerBatchIterator


class ParquetBatchLoader:
    """
    Iterable of `Batch` over one split of a prepared dataset, for one rank.

    Rank shares (`RankShare`):

    * ``mode="train"``: every rank gets the same number of rows, ``N // world_size``
      (the fewer than ``world_size`` rows left over change from epoch to epoch when
      shuffling); with ``shuffle`` the row groups are permuted per epoch (seeded by
      ``seed`` and the epoch) before the split into rank ranges, and rows are shuffled
      within a buffer of ``shuffle_buffer_rows``. ``drop_last`` drops the final partial
      batch.
    * ``mode="eval"``: every row exactly once across ranks, in file order; ranks whose
      share is one row short pad their batches with rows labelled ``PADDING_LABEL`` so
      that all ranks see batches of the same size at every step (collectives never hang).

    A rank reads only the row groups that overlap its range. Batches are built
    ``prefetch_batches`` ahead of the trainer: in a background thread
    (``loader_workers=0``), or in ``loader_workers`` DataLoader worker processes
    (`WorkerBatchIterator`), which give exactly the same batches in the same order.

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
        prefetch_batches (int): batches built ahead; 0 builds them in the caller
            (with ``loader_workers=0``).
        pin_memory (bool): pin batches (for CUDA hosts).
        metadata (Optional[DatasetMetadata]): already-read metadata.
        loader_workers (int): worker processes building batches; 0: one thread.

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
        loader_workers: int = 0,
    ) -> None:
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world of size {world_size}")
        if loader_workers < 0:
            raise ValueError(f"loader_workers must be >= 0, got {loader_workers}")
        self.metadata: DatasetMetadata = metadata or DatasetMetadata.read(directory)
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
        self._workers = loader_workers
        self._epoch = 0
        files = split_files(directory, self.metadata, split)
        self._index = RowGroupIndex(files, self.metadata)
        self.num_rows = self._index.num_rows
        expected = self.metadata.split(split).rows
        if self.num_rows != expected:
            raise DatasetFormatError(
                f"{directory}: split {split!r} has {self.num_rows} rows in its Parquet "
                f"files but its metadata says {expected}"
            )

    def set_epoch(self, epoch: int) -> None:
        """Selects the shuffle of ``epoch`` (call before iterating)."""
        self._epoch = epoch

    def _share(self) -> RankShare:
        return RankShare.of(self.num_rows, self.rank, self.world_size, self._mode)

    def row_range(self) -> Tuple[int, int]:
        """
        [first, end) rows of this rank in the epoch's row order; in eval mode that is the
        order of the files, so ``first + i`` is the split-wide index of the i-th real row
        this rank yields.
        """
        share = self._share()
        return share.start, share.end

    def __len__(self) -> int:
        """Batches per epoch, the same on every rank."""
        drop_last = self._mode == "train" and self._drop_last
        return self._share().num_batches(self.batch_size, drop_last)

    def epoch_batches(self) -> EpochBatches:
        """This rank's batches of the current epoch."""
        share = self._share()
        seed = (self._seed, self._epoch, 1 + self.rank) if self._shuffle else None
        layout = BatchLayout(
            batch_size=self.batch_size,
            buffer_rows=self._buffer_rows,
            num_batches=len(self),
            rows=share.rows,
            shuffle_seed=seed,
            pad=self._mode == "eval",
        )
        order = self._index.order(self._shuffle, self._seed, self._epoch)
        return EpochBatches(self._index, order, share, layout)

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
        epoch = self.epoch_batches()
        if self._workers > 0:
            return WorkerBatchIterator(
                epoch, start_batch, self._workers, self._prefetch, self._pin_memory
            )
        batches = epoch.batches(start_batch)
        if self._pin_memory:
            batches = (b.pin_memory() for b in batches)
        if self._prefetch <= 0:
            return batches
        return BackgroundIterator(batches, self._prefetch, name="parquet-prefetch")
