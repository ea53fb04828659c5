"""Transforms of numeric fields.

* ``log`` (Criteo style): empty -> 0, negatives clamped to 0, then ``log(1 + x)``.
* ``bucket`` (BARS Criteo_x4 style): the field becomes categorical, ``v -> floor(log(v)^2)``
  if ``v > 2`` else ``int(v)`` (truncated towards zero); empty is a value of its own.
  Its vocabulary is built like any other categorical field's.
* ``none``: the number as is, empty -> 0.
"""

from typing import Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NUMERIC_TRANSFORMS: Tuple[str, ...] = ("log", "bucket", "none")
# The value an empty numeric field has after ``bucket`` (distinct from every number).
EMPTY_BUCKET = ""
# Bucket ids of huge negative numbers are clamped to stay int64.
_INT_LIMIT = float(2**62)


def check_transform(name: str) -> str:
    if name not in NUMERIC_TRANSFORMS:
        raise ValueError(
            f"numeric transform must be one of {NUMERIC_TRANSFORMS}, got {name!r}"
        )
    return name


def is_categorical_transform(name: str) -> bool:
    """Whether the transform turns a numeric field into a categorical one."""
    return name == "bucket"


def log_transform(x: np.ndarray) -> np.ndarray:
    """float64 with NaN for empty -> float32 ``log(1 + max(x, 0))``, empty -> 0."""
    x = np.nan_to_num(x, nan=0.0)
    np.maximum(x, 0.0, out=x)
    return np.log1p(x).astype(np.float32)


def no_transform(x: np.ndarray) -> np.ndarray:
    """float64 with NaN for empty -> float32 as is, empty -> 0."""
    return np.nan_to_num(x, nan=0.0).astype(np.float32)


def bucket_transform(x: np.ndarray) -> pa.Array:
    """float64 with NaN for empty -> string tokens of the bucket ids, empty -> ``""``."""
    empty = np.isnan(x)
    safe = np.where(empty, 0.0, x)
    big = safe > 2
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(np.where(big, safe, 3.0))
    small = np.clip(np.trunc(safe), -_INT_LIMIT, _INT_LIMIT)
    ids = np.where(big, np.floor(logs * logs), small).astype(np.int64)
    tokens = pc.cast(pa.array(ids), pa.string())
    if empty.any():
        tokens = pc.if_else(pa.array(empty), pa.scalar(EMPTY_BUCKET), tokens)
    return tokens


def bucket_of(value: float) -> str:
    """The bucket token of one number (the scalar reference of `bucket_transform`)."""
    if value > 2:
        return str(int(np.floor(np.log(value) ** 2)))
    return str(int(min(max(np.trunc(value), -_INT_LIMIT), _INT_LIMIT)))
