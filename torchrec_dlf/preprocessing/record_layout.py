"""The raw columns of an input format and how they become dataset fields."""

from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from torchrec_dlf.preprocessing import bad_rows
from torchrec_dlf.preprocessing.bad_rows import BadRow
from torchrec_dlf.preprocessing.bag_parser import BagParser
from torchrec_dlf.preprocessing.column_parsers import (
    CATEGORICAL,
    LABEL,
    NUMERIC,
    WEIGHTS,
    ColumnParser,
    OutputField,
    Outputs,
    value_lengths,
)
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.raw_block import RawBlock


class ParsedRows:
    """The good rows of a block: their lines and their parsed field values."""

    def __init__(self, lines: np.ndarray, values: Outputs) -> None:
        self.lines = lines
        self.values = values

    @property
    def num_rows(self) -> int:
        return int(self.lines.shape[0])


class RecordLayout:
    """
    Raw columns (in input order) and the parsers that turn them into fields. Columns
    without a parser are read but dropped. Fields keep the order of their columns.

    Args:
        columns (Sequence[str]): raw column names, in input order.
        parsers (Sequence[ColumnParser]): one per used column; exactly one makes the label.
    """

    def __init__(self, columns: Sequence[str], parsers: Sequence[ColumnParser]) -> None:
        self.columns = list(columns)
        order = {c: i for i, c in enumerate(self.columns)}
        unknown = [p.column for p in parsers if p.column not in order]
        if unknown:
            raise PreparationError(
                f"columns {unknown} are not in the input's columns {self.columns}"
            )
        self.parsers = sorted(parsers, key=lambda p: order[p.column])
        used = [p.column for p in self.parsers]
        if len(set(used)) != len(used):
            raise PreparationError(f"a column is used twice: {used}")
        self.fields: List[OutputField] = [f for p in self.parsers for f in p.outputs]
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise PreparationError(f"field names must be unique, got {names}")
        labels = [f for f in self.fields if f.kind == LABEL]
        if len(labels) != 1:
            raise PreparationError(
                f"exactly one label column is needed, got {len(labels)}"
            )
        self.numeric = [f.name for f in self.fields if f.kind == NUMERIC]
        self.categorical = [f.name for f in self.fields if f.kind == CATEGORICAL]
        # Multi-hot fields (by field name) and their weights fields, in field order.
        self.bags: Dict[str, BagParser] = {
            p.name: p for p in self.parsers if isinstance(p, BagParser)
        }
        self.weights = [f.name for f in self.fields if f.kind == WEIGHTS]
        if not self.categorical:
            raise PreparationError("a dataset needs at least one categorical field")

    def describe(self) -> Dict[str, Any]:
        return {p.column: p.describe() for p in self.parsers}

    def parse(
        self, block: RawBlock, only_categorical: bool = False
    ) -> Tuple[ParsedRows, List[BadRow]]:
        """
        Parses a block; returns its good rows and its bad rows (those the reader rejected
        and those with a bad value), in line order. Each bad row is named once, by its
        first bad field. With ``only_categorical`` the other fields are checked but not
        returned (the vocabulary pass needs no more).
        """
        outputs, failed = self._parse_all(block, only_categorical)
        if not failed:
            return ParsedRows(block.lines, outputs), list(block.rejected)
        problems = self._find_problems(block, failed)
        if not problems:
            raise RuntimeError(
                f"{block.file}: lines {block.lines[0]}-{block.lines[-1]}: the fast check of "
                f"{[p.column for p in failed]} rejected the block but no value is bad "
                f"(a bug in torchrec_dlf.preprocessing)"
            )
        keep = np.ones(block.num_rows, dtype=bool)
        keep[list(problems)] = False
        good = block.filter(keep)
        outputs, failed = self._parse_all(good, only_categorical)
        if failed:
            raise RuntimeError(
                f"{block.file}: {[p.column for p in failed]} reject rows that pass the "
                f"per-value check (a bug in torchrec_dlf.preprocessing)"
            )
        bad = sorted(
            list(block.rejected) + list(problems.values()), key=lambda r: r.line
        )
        return ParsedRows(good.lines, outputs), bad

    def _parse_all(
        self, block: RawBlock, only_categorical: bool
    ) -> Tuple[Outputs, List[ColumnParser]]:
        outputs: Outputs = {}
        failed: List[ColumnParser] = []
        for parser in self.parsers:
            values = block.columns[parser.column]
            if only_categorical and all(f.kind != CATEGORICAL for f in parser.outputs):
                if not parser.check(values):
                    failed.append(parser)
                continue
            out = parser.parse(values)
            if out is None:
                failed.append(parser)
            else:
                outputs.update(out)
        return outputs, failed

    def _find_problems(
        self, block: RawBlock, failed: List[ColumnParser]
    ) -> Dict[int, BadRow]:
        """The slow path: every value of the failed columns checked one by one."""
        found: Dict[int, Tuple[int, str, str, str]] = {}
        for parser in failed:
            position = self.columns.index(parser.column)
            for i, value in enumerate(block.columns[parser.column].to_pylist()):
                problem = parser.problem(value)
                if problem is not None and (i not in found or found[i][0] > position):
                    found[i] = (position, parser.column, *problem)
        if not found:
            return {}
        total_bytes = sum(value_lengths(block.columns[c]) for c in self.columns)
        problems: Dict[int, BadRow] = {}
        for i, (_, column, reason, detail) in found.items():
            line = int(block.lines[i])
            if total_bytes[i] == 0 and len(self.columns) > 1:
                # pyarrow hands over an empty line as a row of empty fields.
                problems[i] = BadRow(
                    block.file, line, bad_rows.EMPTY_LINE, "empty line"
                )
            else:
                problems[i] = BadRow(block.file, line, reason, detail, column)
        return problems
