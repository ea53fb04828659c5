"""Malformed input rows: what is wrong with them and what happens to them."""

from collections import Counter
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

from torchrec_dlf.preprocessing.errors import BadRowError

# Reasons, the keys of the per-reason skip counts.
WRONG_FIELD_COUNT = "wrong number of fields"
EMPTY_LINE = "empty line"
INVALID_UTF8 = "invalid UTF-8"
BAD_LABEL = "bad label"
NOT_A_NUMBER = "not a number"
NOT_A_HEX_HASH = "not a hex hash"
BAD_HOUR = "bad hour"
BAD_TOKEN = "bad token"
UNKNOWN_FEATURE = "unknown feature index"
REPEATED_FIELD = "field given twice"
BAD_VALUE = "bad feature value"
OUT_OF_RANGE = "number out of range"
NUL_BYTE = "NUL byte"
BAD_QUOTING = "bad quoting"
STRAY_CR = "carriage return inside a line"
BAD_BAG = "bad bag"
BAG_TOO_LONG = "bag longer than max_length"

ON_BAD_ROW = ("error", "skip")
_MAX_SHOWN_CHARS = 40


def show_value(value: Optional[bytes]) -> str:
    """A raw value as it appears in messages: quoted, undecodable bytes escaped, shortened."""
    if value is None:
        return "(absent)"
    text = value.decode("utf-8", errors="backslashreplace")
    if len(text) > _MAX_SHOWN_CHARS:
        text = text[:_MAX_SHOWN_CHARS] + "..."
    return repr(text)


@dataclass(frozen=True)
class BadRow:
    """
    One malformed input row.

    Args:
        file (str): input file, as given.
        line (int): 1-based physical line number (a header counts as line 1).
        reason (str): one of the reason constants of this module (the skip-count key).
        detail (str): what is wrong, e.g. ``'abc' is not a number``.
        field (Optional[str]): the field at fault, when there is one.
    """

    file: str
    line: int
    reason: str
    detail: str
    field: Optional[str] = None

    def message(self) -> str:
        # The shape of every user error: what, then where (file:line, field).
        where = f"{self.file}:{self.line}"
        if self.field is not None:
            return f"{self.detail} ({where}, field {self.field})"
        return f"{self.detail} ({where})"


class BadRowLog:
    """
    Applies the bad-row policy: ``"error"`` raises `BadRowError` for the first bad row;
    ``"skip"`` drops bad rows, counting them per reason and keeping the first examples.

    Args:
        policy (str): "error" or "skip".
        max_examples (int): examples kept in skip mode.
        record (bool): count and keep examples; a pass that sees rows a later pass sees
            again does not record, so every bad row is counted once.
    """

    def __init__(
        self, policy: str = "error", max_examples: int = 10, record: bool = True
    ) -> None:
        if policy not in ON_BAD_ROW:
            raise ValueError(f"on_bad_row must be one of {ON_BAD_ROW}, got {policy!r}")
        self.policy = policy
        self.max_examples = max_examples
        self.record = record
        self.counts: Counter = Counter()
        self.examples: List[BadRow] = []

    def add(self, rows: Iterable[BadRow], record: Optional[bool] = None) -> None:
        """Takes the bad rows of one block (in line order); ``record`` overrides the default."""
        record = self.record if record is None else record
        for row in rows:
            if self.policy == "error":
                raise BadRowError(row)
            if record:
                self.counts[row.reason] += 1
                if len(self.examples) < self.max_examples:
                    self.examples.append(row)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def counts_by_reason(self) -> Dict[str, int]:
        return dict(sorted(self.counts.items()))

    def summary(self) -> List[str]:
        """Human-readable lines: the count per reason, then the first examples."""
        if not self.total:
            return []
        lines = [f"skipped {self.total} bad rows:"]
        lines += [
            f"  {count} x {reason}" for reason, count in self.counts_by_reason().items()
        ]
        lines.append(f"first {len(self.examples)}:")
        lines += [f"  {row.message()}" for row in self.examples]
        return lines
