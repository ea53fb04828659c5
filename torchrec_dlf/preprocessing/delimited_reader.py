"""Streams delimited text files (CSV, TSV) in blocks, with exact line numbers.

Quoting is a property of the format (`DelimitedReader`'s ``quoting``):

* off (Criteo TSV): a ``"`` is a plain character like any other;
* RFC 4180 (Avazu CSV, BARS CSV, the ``csv`` source by default): a value may be
  enclosed in double quotes, ``"x"`` is ``x``, ``"a,b"`` is one value ``a,b`` and ``""``
  inside quotes is one ``"``. A quote inside an unquoted value is a plain character
  (``5"`` is ``5"``). A quoted value must close on its own line (values spanning lines
  are not supported) and be followed by the separator or the line end; otherwise the
  row's fields cannot be aligned and it is a bad row naming the field. A row's field
  count is the count after unquoting.

Line endings: LF and CRLF (mixed too); a carriage return anywhere else in a line is a
bad row; a file with CR-only line endings (old Mac) is refused up front.
"""

from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from torchrec_dlf.preprocessing import bad_rows
from torchrec_dlf.preprocessing.bad_rows import BadRow
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.raw_block import RawBlock
from torchrec_dlf.preprocessing.rfc4180 import QUOTE, split_quoted
from torchrec_dlf.preprocessing.text_files import HEAD_BYTES, check_line_endings

DEFAULT_BLOCK_BYTES = 4 << 20


class DelimitedReader:
    """
    Reads a delimited text file in blocks of whole lines and parses each with pyarrow's
    CSV parser, every column as raw bytes (so no conversion can fail inside pyarrow),
    empty lines kept (they are bad rows). Line numbers are physical: the reader splits
    the blocks itself and counts their lines. Rows with a wrong number of fields are
    taken out by pyarrow's invalid-row handler and handed over as `RawBlock.rejected`.

    Clean blocks (the hot path) go to pyarrow as they are. A block with invalid UTF-8
    (pyarrow's invalid-row handler cannot take such a row), with a carriage return
    inside a line, or (with quoting) with a quote character (pyarrow would let a quote
    that does not close merge lines, and read ``"a"b`` as ``ab``) is checked line by
    line first, in Python, so it is slower: the lines that cannot be parsed exactly are
    bad rows (wrong field count, stray carriage return, bad quoting) with their exact
    line numbers, and pyarrow parses the rest. The real files of every format quote
    nothing and hold only valid UTF-8.

    Args:
        path (str): the file (``.gz``/``.bz2`` are decompressed on the fly).
        columns (List[str]): the raw column names, in file order.
        separator (str): one-character field separator.
        header (bool): the first line is a header (skipped; check it with
            `split_header` before reading).
        block_bytes (int): bytes parsed per block.
        quoting (bool): RFC 4180 quoting (see the module docstring); off: a quote is
            a plain character.
    """

    def __init__(
        self,
        path: str,
        columns: List[str],
        separator: str,
        header: bool,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
        quoting: bool = False,
    ) -> None:
        if len(separator) != 1 or separator in '\r\n"':
            raise PreparationError(
                f"the separator must be one character, got {separator!r}"
            )
        self.path = path
        self.columns = list(columns)
        self.separator = separator
        self.header = header
        self.block_bytes = block_bytes
        self.quoting = quoting
        self.data_lines = 0  # data lines of the file, set once `blocks` has run
        self._sep = separator.encode()

    @property
    def first_data_line(self) -> int:
        return 2 if self.header else 1

    def blocks(self) -> Iterator[RawBlock]:
        next_line = 1
        skip_header = self.header
        for data in self._line_blocks(lambda: next_line):
            if skip_header:
                skip_header = False
                data = data.partition(b"\n")[2]
                next_line = 2
                if not data:
                    continue
            block, count = self._parse_block(data, next_line)
            next_line += count
            if block.num_rows or block.rejected:
                yield block
        self.data_lines = next_line - self.first_data_line

    def _line_blocks(self, next_line: Callable[[], int]) -> Iterator[bytes]:
        """
        The file's bytes in blocks of whole lines (the last may lack its newline);
        ``next_line`` tells the line the next block starts at (for messages).
        """
        carry = b""
        try:
            with pa.input_stream(self.path, compression="detect") as f:
                first = True
                while True:
                    chunk = f.read(self.block_bytes)
                    if first:
                        check_line_endings(self.path, chunk[:HEAD_BYTES])
                        first = False
                    if not chunk:
                        if carry:
                            yield carry
                        return
                    data = carry + chunk
                    cut = data.rfind(b"\n")
                    if cut < 0:
                        if len(data) > self.block_bytes:
                            raise PreparationError(
                                f"{self.path}: a line at or after line {next_line()} is "
                                f"longer than the block size ({self.block_bytes} bytes); "
                                f"use a larger block size (--block_size)"
                            )
                        carry = data
                        continue
                    carry = data[cut + 1 :]
                    yield data[: cut + 1]
        except (pa.ArrowException, OSError, EOFError) as e:
            raise PreparationError(
                f"{self.path}: cannot read it at or after line {next_line()} ({e})"
            ) from e

    def _parse_block(self, data: bytes, first_line: int) -> Tuple[RawBlock, int]:
        """A block of lines parsed, and the number of its lines."""
        # Scans at memory speed decide; real files (no quotes) stay on the fast path.
        if (
            _valid_utf8(data)
            and _no_stray_cr(data)
            and not (self.quoting and QUOTE in data)
        ):
            return self._parse(data, first_line)
        return self._parse_checked(data, first_line)

    def _parse(self, data: bytes, first_line: int) -> Tuple[RawBlock, int]:
        """
        pyarrow's parse of a clean block: no carriage return but in CRLF, no quote
        with quoting on, so one row (good or invalid) per physical line, numbered from 1.
        """
        invalid: List[Tuple[int, int]] = []  # (row number in the block, fields found)

        def on_invalid(row: pcsv.InvalidRow) -> str:
            invalid.append((row.number, row.actual_columns))
            return "skip"

        table = self._read(data, first_line, on_invalid)
        count = table.num_rows + len(invalid)
        lines = np.arange(first_line, first_line + count, dtype=np.int64)
        rejected = [
            self._wrong_count(first_line + n - 1, found) for n, found in invalid
        ]
        if invalid:
            lines = np.delete(lines, [n - 1 for n, _ in invalid])
        return self._block(table, lines, rejected), count

    def _parse_checked(self, data: bytes, first_line: int) -> Tuple[RawBlock, int]:
        """The slow path: lines checked one by one before pyarrow parses the good ones."""
        raw_lines = data.split(b"\n")
        if data.endswith(b"\n"):
            raw_lines.pop()
        kept: List[bytes] = []
        lines: List[int] = []
        rejected: List[BadRow] = []
        expected = len(self.columns)
        for number, raw in enumerate(raw_lines, first_line):
            line = raw[:-1] if raw.endswith(b"\r") else raw
            problem = self._line_problem(line, number, expected)
            if problem is not None:
                rejected.append(problem)
            else:
                kept.append(line)
                lines.append(number)
        if not kept:
            empty = {c: pa.array([], pa.binary()) for c in self.columns}
            lines_none = np.zeros(0, np.int64)
            block = RawBlock(
                self.path, lines_none, empty, rejected, self.first_data_line
            )
            return block, len(raw_lines)
        line_numbers = np.array(lines, dtype=np.int64)
        invalid: List[Tuple[int, int]] = []

        def on_invalid(row: pcsv.InvalidRow) -> str:
            invalid.append((row.number, row.actual_columns))
            return "skip"

        table = self._read(b"\n".join(kept) + b"\n", first_line, on_invalid)
        if table.num_rows + len(invalid) != len(kept):
            raise RuntimeError(
                f"{self.path}: lines {first_line}-{first_line + len(raw_lines) - 1}: the "
                f"line check and pyarrow disagree (a bug in torchrec_dlf.preprocessing)"
            )
        rejected += [
            self._wrong_count(int(line_numbers[n - 1]), found) for n, found in invalid
        ]
        if invalid:
            line_numbers = np.delete(line_numbers, [n - 1 for n, _ in invalid])
        rejected.sort(key=lambda r: r.line)
        return self._block(table, line_numbers, rejected), len(raw_lines)

    def _line_problem(
        self, line: bytes, number: int, expected: int
    ) -> Optional[BadRow]:
        """What keeps one line from pyarrow's parse, or None (its values are checked later)."""
        if b"\r" in line:
            return BadRow(
                self.path,
                number,
                bad_rows.STRAY_CR,
                "a carriage return inside the line (only LF and CRLF line endings are read)",
            )
        if not line:
            return None  # an empty line: a row of empty values, a bad row later
        if self.quoting and QUOTE in line:
            values, broken = split_quoted(line, self._sep)
            if values is None:
                field = self.columns[broken] if broken < expected else None
                return BadRow(
                    self.path,
                    number,
                    bad_rows.BAD_QUOTING,
                    "a quoted value must close on its line and be followed by "
                    f"{self.separator!r} or the line end",
                    field,
                )
            found = len(values)
        else:
            found = line.count(self._sep) + 1
        if found != expected:
            return self._wrong_count(number, found)
        return None

    def _read(self, data: bytes, first_line: int, on_invalid: object) -> pa.Table:
        quoting = self.quoting
        try:
            # The streaming reader: about twice as fast as read_csv on one block. Closed
            # here, on errors too: an unclosed one left for the interpreter's teardown
            # can abort the process (SIGABRT, "terminate called without an active
            # exception") after the error line.
            reader = pcsv.open_csv(
                pa.BufferReader(data),
                read_options=pcsv.ReadOptions(
                    # One pyarrow block per block of lines: a line never straddles two.
                    block_size=max(len(data) + 1, 1 << 10),
                    use_threads=False,
                    column_names=self.columns,
                ),
                parse_options=pcsv.ParseOptions(
                    delimiter=self.separator,
                    quote_char='"' if quoting else False,
                    double_quote=quoting,
                    escape_char=False,
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
            with reader:
                return reader.read_all()
        except pa.ArrowException as e:
            raise PreparationError(
                f"{self.path}: cannot parse the lines from line {first_line} on ({e})"
            ) from e

    def _block(
        self, table: pa.Table, lines: np.ndarray, rejected: List[BadRow]
    ) -> RawBlock:
        columns = {c: _one_array(table.column(i)) for i, c in enumerate(self.columns)}
        return RawBlock(self.path, lines, columns, rejected, self.first_data_line)

    def _wrong_count(self, line: int, found: int) -> BadRow:
        return BadRow(
            self.path,
            line,
            bad_rows.WRONG_FIELD_COUNT,
            f"expected {len(self.columns)} fields, found {found}",
        )


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    # One pyarrow block per block of lines: one chunk, taken without a copy.
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _valid_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _no_stray_cr(data: bytes) -> bool:
    if b"\r" not in data:  # LF files: one fast scan
        return True
    return data.count(b"\r") == data.count(b"\r\n")
