"""Vocabularies of categorical fields: counted on the training split, or hashed.

Id 0 of every field is reserved for out-of-vocabulary values: values seen fewer than
``min_count`` times in train, values never seen in train, and absent fields.

A counted vocabulary is saved with the prepared dataset, one Parquet file per field
(``vocabulary/<field>.parquet``, see `save_vocabularies`), with the columns ``value``
(string, the value exactly as the encoder sees it), ``id`` (int32, 1..V) and ``count``
(int64, its train count), so that other raw files can be encoded the same way.
"""

import os
import re
from abc import ABC, abstractmethod
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.stable_hash import fnv1a_64

OOV_ID = 0
_VALUE, _ID, _COUNT = "value", "id", "count"
VOCABULARY_DIR = "vocabulary"
VOCABULARY_SCHEMA = pa.schema(
    [
        pa.field(_VALUE, pa.string()),
        pa.field(_ID, pa.int32()),
        pa.field(_COUNT, pa.int64()),
    ]
)
# Field names used as they are in file names; others get a made-up one (recorded anyway).
_FILE_STEM = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


class ValueCounter:
    """
    Counts the values of one categorical field, block by block. Blocks are gathered up
    to ``pending_rows`` values and counted together (one hash pass), and the counts are
    merged into the running totals (a pyarrow group-by), so memory stays bounded by
    ``pending_rows`` values plus the distinct values seen.

    Args:
        pending_rows (int): values gathered before they are counted.
    """

    def __init__(self, pending_rows: int = 1 << 20) -> None:
        self._pending_rows = pending_rows
        self._merged: Optional[pa.Table] = None
        self._pending: List[pa.Array] = []
        self._pending_count = 0

    def add(self, values: pa.Array) -> None:
        """Counts a block of values (nulls, i.e. absent fields, are not counted)."""
        if values.null_count:
            values = values.drop_null()
        if len(values) == 0:
            return
        self._pending.append(values)
        self._pending_count += len(values)
        if self._pending_count >= self._pending_rows:
            self._count_pending()

    def _count_pending(self) -> None:
        if not self._pending:
            return
        counts = pc.value_counts(pa.chunked_array(self._pending))
        self._pending, self._pending_count = [], 0
        table = pa.table({_VALUE: counts.field(0), _COUNT: counts.field(1)})
        if self._merged is not None:
            merged = pa.concat_tables([self._merged, table])
            grouped = merged.group_by(_VALUE, use_threads=False).aggregate(
                [(_COUNT, "sum")]
            )
            table = grouped.rename_columns([_VALUE, _COUNT])
        self._merged = table.combine_chunks()

    def counts(self) -> pa.Table:
        """Columns value (string) and count (int64), one row per distinct value."""
        self._count_pending()
        if self._merged is None:
            return pa.table(
                {_VALUE: pa.array([], pa.string()), _COUNT: pa.array([], pa.int64())}
            )
        return self._merged

    def vocabulary(self, min_count: int) -> "CountedVocabulary":
        return CountedVocabulary.from_counts(self.counts(), min_count)


class Vocabulary(ABC):
    """Maps the values of one categorical field to ids in ``[0, size)``."""

    @property
    @abstractmethod
    def size(self) -> int:
        """Rows of the field's embedding table (id 0 included)."""

    @abstractmethod
    def encode(self, values: pa.Array) -> np.ndarray:
        """int32 ids of a block of values (string, null = absent -> 0)."""

    @abstractmethod
    def describe(self) -> Dict[str, Any]: ...


class CountedVocabulary(Vocabulary):
    """
    Values seen at least ``min_count`` times in train get ids 1..V, by descending count,
    ties by ascending value (its UTF-8 bytes), so the ids are deterministic.

    Args:
        values (pa.Array): the V values, in id order.
        counts (np.ndarray): their train counts.
        distinct (int): distinct values seen in train (before ``min_count``).
        min_count (int): the threshold used.
    """

    def __init__(
        self, values: pa.Array, counts: np.ndarray, distinct: int, min_count: int
    ) -> None:
        self.values = values
        self.counts = counts
        self.distinct = distinct
        self.min_count = min_count

    @classmethod
    def from_counts(cls, counts: pa.Table, min_count: int) -> "CountedVocabulary":
        kept = counts.filter(pc.greater_equal(counts[_COUNT], min_count))
        order = pc.sort_indices(kept, [(_COUNT, "descending"), (_VALUE, "ascending")])
        kept = kept.take(order)
        return cls(
            kept[_VALUE].combine_chunks(),
            kept[_COUNT].to_numpy(),
            counts.num_rows,
            min_count,
        )

    @property
    def size(self) -> int:
        return len(self.values) + 1

    def encode(self, values: pa.Array) -> np.ndarray:
        index = pc.index_in(values, value_set=self.values)
        ids = pc.fill_null(pc.add(index, 1), OOV_ID)
        return ids.to_numpy().astype(np.int32, copy=False)

    def describe(self) -> Dict[str, Any]:
        return {"values": len(self.values), "distinct_in_train": self.distinct}

    def table(self) -> pa.Table:
        """The saved form: columns value (string), id (int32, 1..V), count (int64)."""
        n = len(self.values)
        return pa.Table.from_arrays(
            [
                self.values.cast(pa.string()),
                pa.array(np.arange(1, n + 1, dtype=np.int32)),
                pa.array(np.asarray(self.counts, dtype=np.int64)),
            ],
            schema=VOCABULARY_SCHEMA,
        )

    @classmethod
    def from_table(
        cls, table: pa.Table, distinct: int, min_count: int, where: str = "vocabulary"
    ) -> "CountedVocabulary":
        """
        The vocabulary of a saved `table`, checked: the three columns, ids 1..V in
        order, every value once.
        """
        missing = [c for c in VOCABULARY_SCHEMA.names if c not in table.column_names]
        if missing:
            raise PreparationError(
                f"{where}: no column {missing} (a saved vocabulary has "
                f"{VOCABULARY_SCHEMA.names})"
            )
        values = table[_VALUE].combine_chunks()
        if not pa.types.is_string(values.type):
            try:
                values = values.cast(pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise PreparationError(
                    f"{where}: values of type {values.type} are not strings ({e})"
                ) from e
        ids = table[_ID].to_numpy()
        if not np.array_equal(ids, np.arange(1, len(ids) + 1)):
            raise PreparationError(f"{where}: the ids are not 1..{len(ids)} in order")
        if values.null_count or pc.count_distinct(values).as_py() != len(values):
            raise PreparationError(f"{where}: a value is missing or appears twice")
        counts = table[_COUNT].to_numpy().astype(np.int64, copy=False)
        return cls(values, counts, distinct, min_count)


class HashedVocabulary(Vocabulary):
    """
    No counting pass: id = ``1 + fnv1a_64(value) mod buckets`` (see `stable_hash`),
    absent -> 0. Different values may share an id.

    Args:
        buckets (int): number of hash buckets N (ids 1..N).
    """

    def __init__(self, buckets: int) -> None:
        if buckets < 1:
            raise ValueError(f"hash size must be >= 1, got {buckets}")
        self.buckets = buckets

    @property
    def size(self) -> int:
        return self.buckets + 1

    def encode(self, values: pa.Array) -> np.ndarray:
        ids = (fnv1a_64(values) % np.uint64(self.buckets)).astype(np.int64) + 1
        if values.null_count:
            ids[~values.is_valid().to_numpy(zero_copy_only=False)] = OOV_ID
        return ids.astype(np.int32)

    def describe(self) -> Dict[str, Any]:
        return {"hash_buckets": self.buckets}


def vocabulary_files(fields: Sequence[str]) -> Dict[str, str]:
    """
    The saved vocabulary file of every field, relative to the dataset directory:
    ``vocabulary/<field>.parquet``, or ``vocabulary/field_<i>.parquet`` (``i`` its
    position) for a name that is not a plain file name or that would clash with another
    field's on a case-insensitive file system.
    """
    files: Dict[str, str] = {}
    used = set()
    for i, name in enumerate(fields):
        plain = _FILE_STEM.fullmatch(name) is not None and name.lower() not in used
        stem = name if plain else f"field_{i}"
        k = 0
        while stem.lower() in used:
            k += 1
            stem = f"field_{i}_{k}"
        used.add(stem.lower())
        files[name] = f"{VOCABULARY_DIR}/{stem}.parquet"
    return files


def save_vocabularies(
    vocabularies: Mapping[str, Vocabulary], file_path: Callable[[str], str]
) -> Dict[str, str]:
    """
    Writes every counted vocabulary to its file (`vocabulary_files`), at the path
    ``file_path(relative)`` gives (e.g. `PreparedDatasetWriter.file_path`); returns the
    files by field. Hashed vocabularies have no table: nothing is written for them.
    """
    counted = {
        c: v for c, v in vocabularies.items() if isinstance(v, CountedVocabulary)
    }
    files = vocabulary_files(list(counted))
    for name, vocabulary in counted.items():
        pq.write_table(vocabulary.table(), file_path(files[name]))
    return files


def load_vocabulary(
    directory: str, relative: str, distinct: int, min_count: int
) -> CountedVocabulary:
    """The vocabulary saved in ``directory``/``relative`` (see `save_vocabularies`)."""
    path = os.path.join(directory, *relative.split("/"))
    where = os.path.join(directory, relative)
    if not os.path.isfile(path):
        raise PreparationError(f"{where}: the saved vocabulary file is missing")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise PreparationError(f"{where}: not a readable Parquet file ({e})") from e
    return CountedVocabulary.from_table(table, distinct, min_count, where)
