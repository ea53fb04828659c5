"""Which field a libFM/libSVM feature index belongs to."""

import bisect
import re
from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional, Tuple

from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.input_files import check_input_file

_RANGE = re.compile(r"(?:([A-Za-z_][A-Za-z0-9_]*)=)?([0-9]+)(?:-([0-9]+))?")


class FeatureFields(ABC):
    """Maps a feature index to the position of its field (or None: no field has it)."""

    fields: List[str]

    @abstractmethod
    def field_of(self, index: int) -> Optional[int]: ...

    @abstractmethod
    def describe(self) -> Dict[str, Any]: ...


class FeatureIndexMap(FeatureFields):
    """
    A feature-index map file in the iPinYou (make-ipinyou-data) format: one line
    ``field:value<TAB>index`` per feature; a first line ``truncate<TAB>0`` (no field) is
    allowed. Fields are ordered by first appearance. Every line must parse and every
    index appear once; otherwise `PreparationError` names the line.

    Args:
        path (str): the map file.
    """

    def __init__(self, path: str) -> None:
        check_input_file(path, "feature-index map")
        self.path = path
        self._field_of: Dict[int, int] = {}
        positions: Dict[str, int] = {}
        with open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                line = raw.rstrip(b"\n").rstrip(b"\r")
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise PreparationError(
                        f"{path}:{number}: not valid UTF-8 ({e})"
                    ) from e
                key, tab, index_text = text.rpartition("\t")
                if not tab:
                    raise PreparationError(
                        f"{path}:{number}: expected 'field:value<TAB>index', found {text!r}"
                    )
                if not index_text.isascii() or not index_text.isdigit():
                    raise PreparationError(
                        f"{path}:{number}: index {index_text!r} is not a non-negative integer"
                    )
                index = int(index_text)
                if number == 1 and key == "truncate":
                    continue
                field, colon, _ = key.partition(":")
                if not colon or not field:
                    raise PreparationError(
                        f"{path}:{number}: expected 'field:value' before the tab, found {key!r}"
                    )
                if index in self._field_of:
                    raise PreparationError(
                        f"{path}:{number}: index {index} appears twice"
                    )
                self._field_of[index] = positions.setdefault(field, len(positions))
        if not positions:
            raise PreparationError(f"{path}: no features")
        self.fields = list(positions)

    def field_of(self, index: int) -> Optional[int]:
        return self._field_of.get(index)

    def describe(self) -> Dict[str, Any]:
        return {
            "feature_index": self.path,
            "fields": len(self.fields),
            "features": len(self._field_of),
        }


class FieldRanges(FeatureFields):
    """
    Fields given as inclusive index ranges, e.g. ``0-99,100-199,200`` (fields named
    ``C1, C2, ...``) or ``user=0-99,item=100-199``. Ranges must not overlap.

    Args:
        spec (str): the ranges, comma separated.
    """

    def __init__(self, spec: str) -> None:
        ranges: List[Tuple[int, int, str]] = []
        for position, part in enumerate(p.strip() for p in spec.split(",")):
            m = _RANGE.fullmatch(part)
            if not m:
                raise PreparationError(
                    f"field range {part!r} is not 'lo-hi', 'index' or 'name=lo-hi'"
                )
            lo = int(m.group(2))
            hi = int(m.group(3)) if m.group(3) is not None else lo
            if hi < lo:
                raise PreparationError(f"field range {part!r} ends before it starts")
            ranges.append((lo, hi, m.group(1) or f"C{position + 1}"))
        names = [r[2] for r in ranges]
        if len(set(names)) != len(names):
            raise PreparationError(f"field ranges {spec!r} name a field twice")
        ordered = sorted(ranges)
        for (lo_a, hi_a, a), (lo_b, _, b) in zip(ordered, ordered[1:]):
            if lo_b <= hi_a:
                raise PreparationError(f"field ranges of {a} and {b} overlap")
        self.spec = spec
        self.fields = names
        self._starts = [r[0] for r in ordered]
        self._ends = [r[1] for r in ordered]
        self._positions = [names.index(r[2]) for r in ordered]

    def field_of(self, index: int) -> Optional[int]:
        i = bisect.bisect_right(self._starts, index) - 1
        if i < 0 or index > self._ends[i]:
            return None
        return self._positions[i]

    def describe(self) -> Dict[str, Any]:
        return {"field_ranges": self.spec}
