"""Streams libFM/libSVM files (``label index:value ...``) in blocks of lines."""

import gzip
import math
import zlib
from itertools import islice
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa

from torchrec_dlf.preprocessing import bad_rows
from torchrec_dlf.preprocessing.bad_rows import BadRow, show_value
from torchrec_dlf.preprocessing.column_parsers import LABEL
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.raw_block import RawBlock
from torchrec_dlf.preprocessing.sources.libfm_fields import FeatureFields
from torchrec_dlf.preprocessing.text_files import check_line_endings

DEFAULT_BLOCK_LINES = 65536
# Between the indices of a multi-hot field in its column (tokens hold no whitespace).
BAG_DELIMITER = b" "
_MAX_KNOWN_TOKENS = 1 << 22


class LibFMReader:
    """
    Reads a libFM/libSVM file into one raw column per field. A row is ``label`` then
    whitespace-separated ``index:value`` tokens; the field of an index comes from
    ``fields``. A field absent from a row is null (out-of-vocabulary id 0 later). For a
    categorical (one-hot) field the column holds the index and its value must be 1; for
    a field in ``numeric_fields`` the column holds the value. A field in
    ``multi_hot_fields`` may be given several times in a row: its column holds the
    indices, space-separated (a bag, see `bag_parser`), each value 1, or
    ``index:value`` for a field in ``weighted_fields`` (the values become per-id
    weights). Bad lines (empty, not UTF-8, a token that is not ``index:value``, an index
    of no field, a one-hot field given twice, a one-hot or unweighted multi-hot value
    other than 1) are handed over as `RawBlock.rejected`; the label is checked later,
    like any column.

    Args:
        path (str): the file (``.gz`` is decompressed on the fly).
        fields (FeatureFields): index -> field.
        numeric_fields (Sequence[str]): fields whose column is the feature's value.
        block_lines (int): lines per block.
        multi_hot_fields (Sequence[str]): fields that hold a bag of indices.
        weighted_fields (Sequence[str]): multi-hot fields whose values are weights.
    """

    def __init__(
        self,
        path: str,
        fields: FeatureFields,
        numeric_fields: Sequence[str] = (),
        block_lines: int = DEFAULT_BLOCK_LINES,
        multi_hot_fields: Sequence[str] = (),
        weighted_fields: Sequence[str] = (),
    ) -> None:
        unknown = sorted(set(numeric_fields) - set(fields.fields))
        if unknown:
            raise PreparationError(
                f"numeric fields {unknown} are not fields of the feature map"
            )
        self.path = path
        self.fields = fields
        self.columns: List[str] = [LABEL] + list(fields.fields)
        self._numeric = [name in set(numeric_fields) for name in fields.fields]
        self._bag = [name in set(multi_hot_fields) for name in fields.fields]
        self._weighted = [name in set(weighted_fields) for name in fields.fields]
        self.block_lines = block_lines
        self.first_data_line = 1
        self.data_lines = 0
        # Token -> (column, value) of every one-hot token seen: most lines are then read
        # with one dictionary lookup per token.
        self._known: Dict[bytes, Tuple[int, bytes]] = {}

    def blocks(self) -> Iterator[RawBlock]:
        opener = gzip.open if self.path.endswith(".gz") else open
        line_number = 0
        try:
            with opener(self.path, "rb") as f:
                check_line_endings(self.path, f.peek(1 << 16)[: 1 << 16])
                while True:
                    chunk = list(islice(f, self.block_lines))
                    if not chunk:
                        break
                    block = self._block(chunk, line_number + 1)
                    line_number += len(chunk)
                    yield block
        except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
            raise PreparationError(
                f"{self.path}: cannot read it at or after line {line_number + 1} ({e})"
            ) from e
        self.data_lines = line_number

    def _block(self, raw_lines: Iterable[bytes], first_line: int) -> RawBlock:
        rows: List[List[Optional[bytes]]] = []
        lines: List[int] = []
        rejected: List[BadRow] = []
        for line, raw in enumerate(raw_lines, first_line):
            raw = raw.rstrip(b"\n").rstrip(b"\r")
            tokens = raw.split()
            row = self._fast_row(tokens) if tokens and raw.isascii() else None
            if row is None:
                problem = self._diagnose(raw, line)
                if problem is not None:
                    rejected.append(problem)
                    continue
                row = self._fast_row(tokens)
                assert row is not None
            lines.append(line)
            rows.append(row)
        columns: Dict[str, pa.Array] = {}
        transposed = list(zip(*rows)) if rows else [()] * len(self.columns)
        for name, values in zip(self.columns, transposed):
            columns[name] = pa.array(values, pa.binary())
        return RawBlock(
            self.path, np.array(lines, dtype=np.int64), columns, rejected, 1
        )

    def _fast_row(self, tokens: List[bytes]) -> Optional[List[Optional[bytes]]]:
        """The row (label, then one value per field), or None if anything is unusual."""
        row: List[Optional[bytes]] = [None] * len(self.columns)
        row[0] = tokens[0]
        known = self._known
        for token in islice(tokens, 1, None):
            hit = known.get(token)
            if hit is None:
                hit = self._learn(token)
                if hit is None:
                    return None
            column, value = hit
            previous = row[column]
            if previous is not None:
                if not self._bag[column - 1]:
                    return None
                value = previous + BAG_DELIMITER + value
            row[column] = value
        return row

    def _learn(self, token: bytes) -> Optional[Tuple[int, bytes]]:
        """(column, value) of a well-formed token; remembered for one-hot features."""
        index_text, colon, value = token.partition(b":")
        if not colon or not index_text.isdigit() or not value:
            return None
        index = int(index_text)
        f = self.fields.field_of(index)
        if f is None:
            return None
        if self._numeric[f]:
            return f + 1, value
        if self._weighted[f]:
            # The bag parser checks the weight and names the field when it is bad.
            hit = (f + 1, str(index).encode() + b":" + value)
        elif not _is_one(value):
            return None
        else:
            hit = (f + 1, str(index).encode())
        if len(self._known) < _MAX_KNOWN_TOKENS:
            self._known[token] = hit
        return hit

    def _diagnose(self, raw: bytes, line: int) -> Optional[BadRow]:
        """The slow path: what is wrong with a line the fast path did not take."""

        def bad(reason: str, detail: str, field: Optional[str] = None) -> BadRow:
            return BadRow(self.path, line, reason, detail, field)

        tokens = raw.split()
        if not tokens:
            return bad(bad_rows.EMPTY_LINE, "empty line")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return bad(bad_rows.INVALID_UTF8, f"invalid UTF-8 in {show_value(raw)}")
        names = self.fields.fields
        seen: Dict[int, int] = {}
        for position, token in enumerate(tokens[1:], 1):
            index_text, colon, value = token.partition(b":")
            if not colon or not index_text.isdigit() or not value:
                return bad(
                    bad_rows.BAD_TOKEN,
                    f"token {position}: {show_value(token)} is not index:value",
                )
            index = int(index_text)
            f = self.fields.field_of(index)
            if f is None:
                return bad(
                    bad_rows.UNKNOWN_FEATURE,
                    f"token {position}: feature index {index} belongs to no field",
                )
            if f in seen and not self._bag[f]:
                return bad(
                    bad_rows.REPEATED_FIELD,
                    f"given twice (indices {seen[f]} and {index})",
                    names[f],
                )
            seen[f] = index
            if not (self._numeric[f] or self._weighted[f]) and not _is_one(value):
                kind = (
                    "an unweighted multi-hot feature (see --weighted_fields)"
                    if self._bag[f]
                    else "a one-hot feature"
                )
                return bad(
                    bad_rows.BAD_VALUE,
                    f"feature {index} has value {show_value(value)}, {kind} needs 1",
                    names[f],
                )
        return None


def _is_one(value: bytes) -> bool:
    if value == b"1":
        return True
    try:
        return math.isfinite(float(value)) and float(value) == 1.0
    except ValueError:
        return False
