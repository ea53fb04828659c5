"""Streams delimited text files (CSV, TSV) in blocks, with exact line numbers."""

from collections import deque
from typing import Deque, Iterator, List, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from torchrec_dlf.preprocessing import bad_rows
from torchrec_dlf.preprocessing.bad_rows import BadRow
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.raw_block import RawBlock

DEFAULT_BLOCK_BYTES = 4 << 20


def read_first_line(path: str) -> Tuple[bytes, bool]:
    """
    The first line of a file without its line ending (CRLF or LF), and whether any
    bytes follow it. Compressed files (``.gz``, ``.bz2``...) are read decompressed.
    """
    with pa.input_stream(path, compression="detect") as f:
        head = b""
        while b"\n" not in head:
            chunk = f.read(1 << 16)
            if not chunk:
                break
            head += chunk
    line, newline, rest = head.partition(b"\n")
    return line.rstrip(b"\r"), bool(rest)


def split_header(path: str, separator: str) -> List[str]:
    """The column names in a file's header line (a UTF-8 byte-order mark is dropped)."""
    line, has_rows = read_first_line(path)
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PreparationError(f"{path}:1: the header is not valid UTF-8 ({e})") from e
    names = text.lstrip("\ufeff").split(separator)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PreparationError(f"{path}:1: the header names {duplicates} more than once")
    if not has_rows:
        raise PreparationError(f"{path}: has a header but no rows")
    return names


class DelimitedReader:
    """
    Reads a delimited text file in blocks with pyarrow's streaming CSV reader, every
    column as raw bytes (so no conversion can fail inside pyarrow), quoting off (a stray
    quote never merges lines), empty lines kept (they are bad rows). Rows with a wrong
    number of fields are taken out by pyarrow's invalid-row handler and handed over as
    `RawBlock.rejected`; every other row keeps its exact physical line number. The
    reader is single-threaded on purpose: only then are pyarrow's invalid-row numbers
    physical line numbers. LF, CRLF and a missing final newline all read the same.

    Args:
        path (str): the file (``.gz``/``.bz2`` are decompressed on the fly).
        columns (List[str]): the raw column names, in file order.
        separator (str): one-character field separator.
        header (bool): the first line is a header (skipped; check it with
            `split_header` before reading).
        block_bytes (int): bytes parsed per block.
    """

    def __init__(
        self,
        path: str,
        columns: List[str],
        separator: str,
        header: bool,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
    ) -> None:
        if len(separator) != 1:
            raise PreparationError(f"the separator must be one character, got {separator!r}")
        self.path = path
        self.columns = list(columns)
        self.separator = separator
        self.header = header
        self.block_bytes = block_bytes
        self.data_lines = 0  # data lines of the file, set once `blocks` has run

    @property
    def first_data_line(self) -> int:
        return 2 if self.header else 1

    def blocks(self) -> Iterator[RawBlock]:
        invalid: Deque[Tuple[int, int]] = deque()  # (line, fields found)

        def on_invalid(row: pcsv.InvalidRow) -> str:
            invalid.append((row.number, row.actual_columns))
            return "skip"

        try:
            reader = pcsv.open_csv(
                self.path,
                read_options=pcsv.ReadOptions(
                    block_size=self.block_bytes,
                    use_threads=False,
                    column_names=self.columns,
                    skip_rows=1 if self.header else 0,
                ),
                parse_options=pcsv.ParseOptions(
                    delimiter=self.separator,
                    quote_char=False,
                    escape_char=False,
                    double_quote=False,
                    newlines_in_values=False,
                    ignore_empty_lines=False,
                    invalid_row_handler=on_invalid,
                ),
                convert_options=pcsv.ConvertOptions(
                    column_types={c: pa.binary() for c in self.columns},
                    check_utf8=False,
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowInvalid, OSError) as e:
            raise self._read_error(e, self.first_data_line) from e
        next_line = self.first_data_line
        expected = len(self.columns)
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError) as e:
                raise self._read_error(e, next_line) from e
            lines, rejected, next_line = self._place(batch.num_rows, next_line, invalid, expected)
            if batch.num_rows or rejected:
                yield RawBlock(
                    file=self.path,
                    lines=lines,
                    columns={c: batch.column(i) for i, c in enumerate(self.columns)},
                    rejected=rejected,
                    first_data_line=self.first_data_line,
                )
        rejected = [self._wrong_count(line, found, expected) for line, found in invalid]
        if rejected:
            next_line = rejected[-1].line + 1
            empty = {c: pa.array([], pa.binary()) for c in self.columns}
            yield RawBlock(self.path, np.zeros(0, np.int64), empty, rejected, self.first_data_line)
        self.data_lines = next_line - self.first_data_line

    def _read_error(self, error: Exception, line: int) -> PreparationError:
        if "straddl" in str(error):
            return PreparationError(
                f"{self.path}: a line at or after line {line} is longer than the block size "
                f"({self.block_bytes} bytes); use a larger block size"
            )
        return PreparationError(f"{self.path}: cannot read at or after line {line} ({error})")

    def _place(
        self, rows: int, next_line: int, invalid: Deque[Tuple[int, int]], expected: int
    ) -> Tuple[np.ndarray, List[BadRow], int]:
        """Line numbers of a batch's rows: the next ``rows`` lines that were not rejected."""
        parts: List[np.ndarray] = []
        rejected: List[BadRow] = []
        while rows:
            if invalid and invalid[0][0] < next_line + rows:
                line, found = invalid.popleft()
                parts.append(np.arange(next_line, line, dtype=np.int64))
                rows -= line - next_line
                rejected.append(self._wrong_count(line, found, expected))
                next_line = line + 1
            else:
                parts.append(np.arange(next_line, next_line + rows, dtype=np.int64))
                next_line += rows
                rows = 0
        lines = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return lines, rejected, next_line

    def _wrong_count(self, line: int, found: int, expected: int) -> BadRow:
        return BadRow(
            self.path,
            line,
            bad_rows.WRONG_FIELD_COUNT,
            f"expected {expected} fields, found {found}",
        )


def count_lines(path: str) -> int:
    """Lines in a file (a last line without newline counts), read in blocks."""
    lines = 0
    last = b"\n"
    with pa.input_stream(path, compression="detect") as f:
        while True:
            chunk = f.read(1 << 24)
            if not chunk:
                break
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")
