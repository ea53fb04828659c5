"""A multi-valued categorical column: a bag of values per row (a multi-hot field).

A cell holds the values of the bag joined by a delimiter (``a|b|c``); an empty or absent
cell is an empty bag. Every value is a vocabulary entry of its own, counted and encoded
like a one-hot field's values. With ``weighted`` every value is ``value:weight`` (the
weight a finite float32), stored as per-id weights beside the bag.

A bag longer than ``max_length`` is cut to its first ``max_length`` values when the spec
truncates (the encoding pass does it and counts what it drops, see `truncate_bags`);
otherwise it is a bad row. The parser itself never drops a value, so the vocabulary pass
counts the bags as the file gives them.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from torchrec_dlf.data.metadata import POOLINGS, BagInfo
from torchrec_dlf.preprocessing import bad_rows
from torchrec_dlf.preprocessing.bad_rows import show_value
from torchrec_dlf.preprocessing.column_parsers import (
    _NUMBER,
    CATEGORICAL,
    WEIGHTS,
    ColumnParser,
    OutputField,
    Outputs,
    Problem,
    as_utf8,
    finite_float32,
    utf8_problem,
    value_bytes,
    value_lengths,
)

WEIGHTS_SUFFIX = "_weights"


@dataclass(frozen=True)
class BagSpec:
    """
    How a multi-valued column is read.

    Args:
        delimiter (str): the character between the values of a cell.
        max_length (Optional[int]): the longest bag kept; None: no limit (the longest
            bag of the data is recorded).
        truncate (bool): cut longer bags (counted) instead of refusing them as bad rows.
        pooling (str): "sum" or "mean", how the embedding table pools the bag.
        weighted (bool): values are ``value:weight``.
    """

    delimiter: str
    max_length: Optional[int] = None
    truncate: bool = True
    pooling: str = "sum"
    weighted: bool = False

    def __post_init__(self) -> None:
        if len(self.delimiter) != 1:
            raise ValueError(f"a delimiter is one character, got {self.delimiter!r}")
        if self.max_length is not None and self.max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {self.max_length}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {list(POOLINGS)}")

    def describe(self) -> Dict[str, Any]:
        return {
            "delimiter": self.delimiter,
            "max_length": self.max_length,
            "truncate": self.truncate,
            "pooling": self.pooling,
            "weighted": self.weighted,
        }


class BagParser(ColumnParser):
    """
    A multi-valued categorical column (see the module docstring). Its field is a
    ``list<string>`` of values per row; with ``spec.weighted`` a second field,
    ``<name>_weights``, is the ``list<float32>`` of their weights.

    Args:
        column (str): the raw column.
        spec (BagSpec): delimiter, length limit, pooling, weights.
        name (Optional[str]): the field's name (default: the column's).
    """

    def __init__(self, column: str, spec: BagSpec, name: Optional[str] = None) -> None:
        super().__init__(column)
        self.spec = spec
        self.name = name or column
        self.weights = self.name + WEIGHTS_SUFFIX if spec.weighted else None
        self._outputs = [OutputField(self.name, CATEGORICAL)]
        if self.weights is not None:
            self._outputs.append(OutputField(self.weights, WEIGHTS))

    @property
    def outputs(self) -> List[OutputField]:
        return self._outputs

    def bag_info(self) -> BagInfo:
        """The field's `BagInfo` before the data is seen (the writer measures it)."""
        return BagInfo(
            max_length=self.spec.max_length or 1,
            mean_length=0.0,
            pooling=self.spec.pooling,
            weights=self.weights,
        )

    def parse(self, values: pa.Array) -> Optional[Outputs]:
        text = as_utf8(values)
        if text is None or not (value_bytes(values) != 0).all():
            return None
        empty = value_lengths(text) == 0
        split = pc.split_pattern(pc.fill_null(text, ""), self.spec.delimiter)
        lengths = pc.list_value_length(split).to_numpy(zero_copy_only=False)
        flat = pc.list_flatten(split)
        if empty.any():
            # An empty cell splits into one empty value: it is an empty bag.
            flat = flat.filter(pa.array(np.repeat(~empty, lengths)))
            lengths = np.where(empty, 0, lengths)
        if (value_lengths(flat) == 0).any():
            return None
        limit = self.spec.max_length
        if limit is not None and not self.spec.truncate and (lengths > limit).any():
            return None
        offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        if self.weights is None:
            return {self.name: pa.ListArray.from_arrays(pa.array(offsets), flat)}
        parts = pc.split_pattern(flat, ":", max_splits=1, reverse=True)
        if not (pc.list_value_length(parts).to_numpy(zero_copy_only=False) == 2).all():
            return None
        ids, weights = pc.list_element(parts, 0), pc.list_element(parts, 1)
        if (value_lengths(ids) == 0).any():
            return None
        try:
            x = pc.cast(weights, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            return None
        if not finite_float32(x).all():
            return None
        return {
            self.name: pa.ListArray.from_arrays(pa.array(offsets), ids),
            self.weights: pa.ListArray.from_arrays(
                pa.array(offsets), pa.array(x.astype(np.float32))
            ),
        }

    def problem(self, value: Optional[bytes]) -> Optional[Problem]:
        if value is None or value == b"":
            return None
        bad = utf8_problem(value)
        if bad is not None:
            return bad
        if b"\x00" in value:
            return bad_rows.NUL_BYTE, f"{show_value(value)} holds a NUL byte"
        items = value.split(self.spec.delimiter.encode())
        if any(not item for item in items):
            return (
                bad_rows.BAD_BAG,
                f"{show_value(value)} has an empty value between "
                f"{self.spec.delimiter!r} delimiters",
            )
        limit = self.spec.max_length
        if limit is not None and not self.spec.truncate and len(items) > limit:
            return (
                bad_rows.BAG_TOO_LONG,
                f"a bag of {len(items)} values, longer than max_length {limit} "
                f"(truncation is off)",
            )
        for item in items if self.weights is not None else ():
            problem = _weighted_problem(item)
            if problem is not None:
                return problem
        return None

    def describe(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"kind": CATEGORICAL, "column": self.column}
        out["bag"] = self.spec.describe()
        if self.weights is not None:
            out["weights"] = self.weights
        return out


def _weighted_problem(item: bytes) -> Optional[Problem]:
    value, colon, weight = item.rpartition(b":")
    if not colon or not value:
        return bad_rows.BAD_BAG, f"{show_value(item)} is not value:weight"
    if (
        not _NUMBER.fullmatch(weight)
        or not finite_float32(np.array([float(weight)])).all()
    ):
        return (
            bad_rows.BAD_VALUE,
            f"the weight {show_value(weight)} of {show_value(value)} is not a finite "
            f"float32 number",
        )
    return None


def truncate_bags(
    bags: pa.ListArray, max_length: int, weights: Optional[pa.ListArray] = None
) -> Tuple[pa.ListArray, Optional[pa.ListArray], int, int]:
    """
    ``bags`` (and their ``weights``) cut to their first ``max_length`` values; also
    returns how many bags were cut and how many values were dropped.
    """
    lengths = pc.list_value_length(bags).to_numpy(zero_copy_only=False)
    over = lengths > max_length
    if not over.any():
        return bags, weights, 0, 0
    starts = bags.offsets.to_numpy()[:-1] - bags.offsets[0].as_py()
    kept = np.minimum(lengths, max_length)
    positions = np.repeat(starts, kept) + (
        np.arange(int(kept.sum())) - np.repeat(np.cumsum(kept) - kept, kept)
    )
    offsets = np.zeros(len(kept) + 1, dtype=np.int32)
    np.cumsum(kept, out=offsets[1:])
    take = pa.array(positions)

    def cut(lists: pa.ListArray) -> pa.ListArray:
        return pa.ListArray.from_arrays(
            pa.array(offsets), pc.list_flatten(lists).take(take)
        )

    dropped = int((lengths - kept).sum())
    return (
        cut(bags),
        None if weights is None else cut(weights),
        int(over.sum()),
        dropped,
    )
