"""The row groups of a split's Parquet files: checked against the metadata, then read."""

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

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
        self._file_rows: Dict[Tuple[int, int], int] = {}
        for i, path in enumerate(files):
            md = open_parquet(path).metadata
            schema = md.schema.to_arrow_schema()
            missing = [c for c in self.columns if c not in schema.names]
            if missing:
                raise DatasetFormatError(f"{path}: missing columns {missing}")
            check_bag_columns(path, schema, metadata)
            check_statistics(path, md, metadata)
            first = 0
            for g in range(md.num_row_groups):
                rows = md.row_group(g).num_rows
                if rows:
                    self.groups.append(RowGroup(i, g, rows))
                    self._file_rows[(i, g)] = first
                first += rows
        self.num_rows: int = sum(g.rows for g in self.groups)

    def file_row(self, group: RowGroup) -> int:
        """The row number, in its file, of the first row of ``group``."""
        return self._file_rows[(group.file, group.row_group)]

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
    # The leaf column of each field (a list column's leaf holds its ids).
    index = {}
    for j in range(md.num_columns):
        index.setdefault(md.schema.column(j).path.split(".")[0], j)
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


def check_bag_columns(path: str, schema: pa.Schema, meta: DatasetMetadata) -> None:
    """
    Refuses a file whose multi-hot fields (and their weights) are not list columns of
    integers (floats), or whose one-hot fields are list columns, naming the file and
    the field.
    """
    for name in meta.categorical:
        kind = schema.field(name).type
        bag = meta.multi_hot.get(name)
        if bag is None:
            if pa.types.is_list(kind) or pa.types.is_large_list(kind):
                raise DatasetFormatError(
                    f"{path}: field {name} is a {kind} column but its metadata "
                    f"records a one-hot field (one int32 id per row)"
                )
            continue
        columns = [(name, pa.types.is_integer, "integer ids")]
        if bag.weights:
            columns.append((bag.weights, pa.types.is_floating, "float weights"))
        for column, is_kind, what in columns:
            kind = schema.field(column).type
            if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)) or (
                not is_kind(kind.value_type)
            ):
                raise DatasetFormatError(
                    f"{path}: field {column} is a {kind} column, not the list of "
                    f"{what} of a multi-hot field"
                )
