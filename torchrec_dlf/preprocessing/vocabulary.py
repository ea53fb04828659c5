"""Vocabularies of categorical fields: counted on the training split, or hashed.

Id 0 of every field is reserved for out-of-vocabulary values: values seen fewer than
``min_count`` times in train, values never seen in train, and absent fields.
"""

from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from torchrec_dlf.preprocessing.stable_hash import fnv1a_64

OOV_ID = 0
_VALUE, _COUNT = "value", "count"


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
            grouped = merged.group_by(_VALUE, use_threads=False).aggregate([(_COUNT, "sum")])
            table = grouped.rename_columns([_VALUE, _COUNT])
        self._merged = table.combine_chunks()

    def counts(self) -> pa.Table:
        """Columns value (string) and count (int64), one row per distinct value."""
        self._count_pending()
        if self._merged is None:
            return pa.table({_VALUE: pa.array([], pa.string()), _COUNT: pa.array([], pa.int64())})
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

    def __init__(self, values: pa.Array, counts: np.ndarray, distinct: int, min_count: int) -> None:
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
