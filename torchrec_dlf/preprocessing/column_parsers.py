"""How one raw column of an input row becomes fields of the prepared dataset.

Every parser has a vectorised fast path (`ColumnParser.parse`, over a whole block) and a
slow per-value check (`ColumnParser.problem`) that names what is wrong with one value.
The fast path only says whether the whole block is clean; when it is not, the slow
check runs over that block to find the exact rows. Both must accept exactly the same
values (the tests check this on random input).
"""

import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from torchrec_dlf.preprocessing import bad_rows
from torchrec_dlf.preprocessing.bad_rows import show_value
from torchrec_dlf.preprocessing.numeric_transform import (
    bucket_transform,
    check_transform,
    is_categorical_transform,
    log_transform,
    no_transform,
)

LABEL = "label"
NUMERIC = "numeric"
CATEGORICAL = "categorical"
# The per-id weights of a weighted multi-hot field (see `bag_parser`).
WEIGHTS = "weights"
# Raw label -> 0/1 when a source gives no label map.
DEFAULT_LABEL_MAP: Dict[str, int] = {"0": 0, "1": 1}

# Parsed outputs of a block: label -> int8 ndarray, numeric -> float32 ndarray,
# categorical -> pa string array of values (null = absent), or a list<string> array
# for a multi-hot field; weights -> list<float32> array.
Outputs = Dict[str, Any]
Problem = Tuple[str, str]  # (reason, detail)

# The numbers Arrow's string -> float64 cast accepts, less NaN and infinities (which
# the fast path rejects after the cast).
_NUMBER = re.compile(rb"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
# Numeric fields are stored as float32: a number must stay finite as one.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _all_hex_digits(data: np.ndarray) -> bool:
    """Whether every byte is a lowercase hex digit (two range checks, uint8 wrap-around)."""
    return bool((((data - np.uint8(48)) < 10) | ((data - np.uint8(97)) < 6)).all())


@dataclass(frozen=True)
class OutputField:
    """A field of the prepared dataset: its name and kind (label, numeric, categorical)."""

    name: str
    kind: str


def as_utf8(values: pa.Array) -> Optional[pa.Array]:
    """``values`` as a string array, or None when some value is not valid UTF-8."""
    if pa.types.is_string(values.type):
        return values
    try:
        return values.cast(pa.string())
    except pa.ArrowInvalid:
        return None


def utf8_problem(value: bytes) -> Optional[Problem]:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return bad_rows.INVALID_UTF8, f"invalid UTF-8 in {show_value(value)}"
    return None


def finite_float32(x: np.ndarray) -> np.ndarray:
    """Whether each float64 value is finite and stays finite as float32."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.isfinite(x.astype(np.float32))


def value_lengths(values: pa.Array) -> np.ndarray:
    """Byte length of every value of a binary or string array (0 for nulls)."""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)
    offsets = offsets[values.offset : values.offset + len(values) + 1]
    return np.diff(offsets)


def value_bytes(values: pa.Array) -> np.ndarray:
    """The concatenated bytes of all values of a binary or string array."""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)
    first, last = offsets[values.offset], offsets[values.offset + len(values)]
    data = values.buffers()[2]
    if data is None:
        return np.zeros(0, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)[first:last]


class ColumnParser(ABC):
    """
    Turns one raw column (binary values, null where a field is absent) into fields.

    Args:
        column (str): the raw column's name in the input.
    """

    def __init__(self, column: str) -> None:
        self.column = column

    @property
    @abstractmethod
    def outputs(self) -> List[OutputField]: ...

    @abstractmethod
    def parse(self, values: pa.Array) -> Optional[Outputs]:
        """The outputs of a block of values, or None when some value is bad."""

    def check(self, values: pa.Array) -> bool:
        """Whether every value of a block is fine (`parse` without keeping the outputs)."""
        return self.parse(values) is not None

    @abstractmethod
    def problem(self, value: Optional[bytes]) -> Optional[Problem]:
        """What is wrong with one value, or None when it is fine."""

    @abstractmethod
    def describe(self) -> Dict[str, Any]:
        """How the fields are made, for the metadata's options."""


class LabelParser(ColumnParser):
    """
    The label: raw values mapped to 0/1 by ``label_map`` (default ``{"0": 0, "1": 1}``).
    """

    def __init__(
        self, column: str, label_map: Optional[Mapping[str, int]] = None
    ) -> None:
        super().__init__(column)
        label_map = dict(label_map or DEFAULT_LABEL_MAP)
        if not label_map or set(label_map.values()) - {0, 1}:
            raise ValueError(f"a label map maps raw labels to 0 or 1, got {label_map}")
        self.label_map = label_map
        self._keys = pa.array([k.encode() for k in label_map], pa.binary())
        self._mapped = np.array(list(label_map.values()), dtype=np.int8)
        self._bytes = {k.encode(): v for k, v in label_map.items()}
        self._expected = ", ".join(label_map)

    @property
    def outputs(self) -> List[OutputField]:
        return [OutputField(LABEL, LABEL)]

    def parse(self, values: pa.Array) -> Optional[Outputs]:
        index = pc.index_in(values.cast(pa.binary()), value_set=self._keys)
        if index.null_count:
            return None
        return {LABEL: self._mapped[index.to_numpy()]}

    def problem(self, value: Optional[bytes]) -> Optional[Problem]:
        if value is not None and value in self._bytes:
            return None
        return (
            bad_rows.BAD_LABEL,
            f"{show_value(value)} is not a label (expected {self._expected})",
        )

    def describe(self) -> Dict[str, Any]:
        return {"kind": LABEL, "column": self.column, "label_map": self.label_map}


class NumericParser(ColumnParser):
    """
    A numeric field: a decimal number (``12``, ``-1``, ``260.0``, ``1e-3``) or empty
    (missing), transformed by ``transform`` (see `numeric_transform`). With ``bucket``
    the output is a categorical field.
    """

    def __init__(
        self, column: str, transform: str = "none", name: Optional[str] = None
    ) -> None:
        super().__init__(column)
        self.transform = check_transform(transform)
        self.name = name or column
        kind = CATEGORICAL if is_categorical_transform(transform) else NUMERIC
        self._outputs = [OutputField(self.name, kind)]

    @property
    def outputs(self) -> List[OutputField]:
        return self._outputs

    def numbers(self, values: pa.Array) -> Optional[np.ndarray]:
        """float64 values, NaN for empty or absent; None when some value is not a number."""
        # No UTF-8 check: the float parser takes ASCII only, so invalid UTF-8 fails the
        # cast anyway (and the slow path names it).
        text = values.view(pa.string()) if pa.types.is_binary(values.type) else values
        lengths = value_lengths(text)
        empty = lengths == 0
        if empty.any():
            text = pc.if_else(pa.array(empty), pa.scalar(None, pa.string()), text)
        try:
            x = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            return None
        present = ~empty
        if values.null_count:
            present &= values.is_valid().to_numpy(zero_copy_only=False)
        # float64 infinities and NaN, and numbers beyond float32's range (1e39 would be
        # stored as inf, as the literal inf is refused).
        if not finite_float32(x[present]).all():
            return None
        return x

    def check(self, values: pa.Array) -> bool:
        return self.numbers(values) is not None

    def parse(self, values: pa.Array) -> Optional[Outputs]:
        x = self.numbers(values)
        if x is None:
            return None
        if self.transform == "bucket":
            return {self.name: bucket_transform(x)}
        out = log_transform(x) if self.transform == "log" else no_transform(x)
        # No transform makes a float32-finite number infinite today; the check keeps a
        # future one from storing inf silently (`problem` says which value).
        if not np.isfinite(out).all():
            return None
        return {self.name: out}

    def problem(self, value: Optional[bytes]) -> Optional[Problem]:
        if value is None or value == b"":
            return None
        bad = utf8_problem(value)
        if bad is not None:
            return bad
        if not _NUMBER.fullmatch(value) or not math.isfinite(float(value)):
            return bad_rows.NOT_A_NUMBER, f"{show_value(value)} is not a number"
        x = np.array([float(value)])
        if not finite_float32(x).all():
            return (
                bad_rows.OUT_OF_RANGE,
                f"{show_value(value)} is out of range (stored as float32, "
                f"|x| <= {FLOAT32_MAX:.4g})",
            )
        if self.transform in ("log", "none"):
            out = log_transform(x) if self.transform == "log" else no_transform(x)
            if not np.isfinite(out).all():
                return (
                    bad_rows.OUT_OF_RANGE,
                    f"{show_value(value)} is out of range after the {self.transform} transform",
                )
        return None

    def describe(self) -> Dict[str, Any]:
        kind = self._outputs[0].kind
        return {"kind": kind, "column": self.column, "transform": self.transform}


class CategoricalParser(ColumnParser):
    """
    A categorical field: any UTF-8 value without NUL bytes (a NUL is a sign of binary
    or corrupt data, and C tools downstream cut values at it); empty is a value of its
    own, absent (null, a libFM field missing from a row) gets the out-of-vocabulary
    id 0. With ``hex_hash``
    a value must be empty or 8 lowercase hex digits (Criteo's 32-bit hashes), so a row
    cut short inside a hash is caught.
    """

    def __init__(
        self, column: str, name: Optional[str] = None, hex_hash: bool = False
    ) -> None:
        super().__init__(column)
        self.name = name or column
        self.hex_hash = hex_hash

    @property
    def outputs(self) -> List[OutputField]:
        return [OutputField(self.name, CATEGORICAL)]

    def parse(self, values: pa.Array) -> Optional[Outputs]:
        if self.hex_hash:
            lengths = value_lengths(values)
            if not ((lengths == 0) | (lengths == 8)).all():
                return None
            if not _all_hex_digits(value_bytes(values)):
                return None
            # Hex digits are ASCII, hence valid UTF-8: no need to validate again.
            return {self.name: values.view(pa.string())}
        text = as_utf8(values)
        if text is None or not (value_bytes(values) != 0).all():
            return None
        return {self.name: text}

    def problem(self, value: Optional[bytes]) -> Optional[Problem]:
        if value is None:
            return None
        if self.hex_hash:
            if value == b"" or (
                len(value) == 8 and _all_hex_digits(np.frombuffer(value, np.uint8))
            ):
                return None
            return (
                bad_rows.NOT_A_HEX_HASH,
                f"{show_value(value)} is not an 8-digit hex hash",
            )
        bad = utf8_problem(value)
        if bad is None and b"\x00" in value:
            return bad_rows.NUL_BYTE, f"{show_value(value)} holds a NUL byte"
        return bad

    def describe(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"kind": CATEGORICAL, "column": self.column}
        if self.hex_hash:
            out["format"] = "8 hex digits or empty"
        return out
