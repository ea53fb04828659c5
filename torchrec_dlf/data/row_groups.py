"""The row groups of a split's Parquet files: checked against the metadata, then read."""

import math
from dataclasses import dataclass
from typing import Any, Dict, List

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from torchrec_dlf.data.metadata import DatasetFormatError, DatasetMetadata


@dataclass(frozen=True)
class RowGroup:
    """One Parquet row group: the unit of reading and of the block-level shuffle."""

    file: int
    row_group: int
    rows: int


class RowGroupIndex:
    """
    The non-empty row groups of ``files`` in file order, read from the Parquet footers
    alone. Files that lack a column, or whose statistics show values the metadata does
    not allow (see `check_statistics`), are refused with a `DatasetFormatError` naming
    the file; so is a file that is not readable Parquet.

    Args:
        files (List[str]): the split's files, in order.
        metadata (DatasetMetadata): the dataset's metadata.
    """

    def __init__(self, files: List[str], metadata: DatasetMetadata) -> None:
        self.files = files
        self.metadata = metadata
        self.columns: List[str] = metadata.columns
        self.groups: List[RowGroup] = []
        for i, path in enumerate(files):
            md = open_parquet(path).metadata
            names = md.schema.names
            missing = [c for c in self.columns if c not in names]
            if missing:
                raise DatasetFormatError(f"{path}: missing columns {missing}")
            check_statistics(path, md, metadata)
            for g in range(md.num_row_groups):
                rows = md.row_group(g).num_rows
                if rows:
                    self.groups.append(RowGroup(i, g, rows))
        self.num_rows: int = sum(g.rows for g in self.groups)

    def order(self, shuffle: bool, seed: int, epoch: int) -> List[RowGroup]:
        """The epoch's row-group order: file order, or a permutation seeded by
        ``seed`` and ``epoch``."""
        if shuffle:
            rng = np.random.default_rng([seed, epoch, 0])
            return [self.groups[i] for i in rng.permutation(len(self.groups))]
        return self.groups


class RowGroupReader:
    """Reads row groups of an index, keeping each file open once opened."""

    def __init__(self, index: RowGroupIndex) -> None:
        self._index = index
        self._handles: Dict[int, pq.ParquetFile] = {}

    def read(self, group: RowGroup) -> pa.Table:
        path = self._index.files[group.file]
        if group.file not in self._handles:
            self._handles[group.file] = open_parquet(path)
        return read_row_group(
            self._handles[group.file], path, group.row_group, self._index.columns
        )


def open_parquet(path: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise DatasetFormatError(f"{path}: not a readable Parquet file ({e})") from e


def read_row_group(
    handle: pq.ParquetFile, path: str, row_group: int, columns: List[str]
) -> pa.Table:
    try:
        return handle.read_row_group(row_group, columns=columns)
    except (OSError, pa.ArrowException) as e:
        raise DatasetFormatError(
            f"{path}: row group {row_group} cannot be read ({e}); prepare the dataset again"
        ) from e


def check_statistics(path: str, md: Any, meta: DatasetMetadata) -> None:
    """
    Refuses files whose ids fall outside the vocabularies (a metadata that does not
    describe them, e.g. edited sizes: an id past the table would be looked up in
    another row or fail inside the kernel), labels outside {0, 1} and non-finite
    numbers, from the Parquet statistics alone (no data is read).
    """
    index = {n: j for j, n in enumerate(md.schema.names)}
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
