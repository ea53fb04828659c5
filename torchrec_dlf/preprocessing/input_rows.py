"""The parsed rows of the input files, block by block, with the split of every row."""

from typing import Dict, Iterator, Optional, Tuple

import numpy as np
import pyarrow as pa

from torchrec_dlf.background_iterator import BackgroundIterator
from torchrec_dlf.data.metadata import SPLITS
from torchrec_dlf.preprocessing.bad_rows import BadRow, BadRowLog
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.preparation_plan import PreparationPlan, RowReader
from torchrec_dlf.preprocessing.raw_block import RawBlock
from torchrec_dlf.preprocessing.record_layout import ParsedRows
from torchrec_dlf.preprocessing.row_split import GivenSplit


class InputRows:
    """
    Reads the plan's input files into parsed rows and their splits, for both passes of
    a preparation; keeps the bad-row log and the data lines of every file read.

    Args:
        plan (PreparationPlan): the readers, layout and split rule.
    """

    def __init__(self, plan: PreparationPlan) -> None:
        self.plan = plan
        self.bad = BadRowLog(plan.on_bad_row)
        self.lines_per_file: Dict[str, int] = {}

    def read(
        self, file_index: int, offset: int, only_categorical: bool, record: bool
    ) -> Iterator[Tuple[ParsedRows, np.ndarray]]:
        """
        Parsed rows of one input file and their splits; counts its lines and good rows.
        ``offset`` is the data lines of the files before it (row numbers of the split
        rule run across files); ``record``: its bad rows go into the log's counts.
        """
        reader = self.plan.readers[file_index]
        good = skipped = 0
        first_bad: Optional[BadRow] = None
        blocks = _blocks(reader, self.plan.prefetch)
        line = 1
        while True:
            try:
                block = next(blocks, None)
                if block is None:
                    break
                parsed, bad_rows = self.plan.layout.parse(block, only_categorical)
            except pa.ArrowException as e:
                # The readers turn what they know into messages; this is the backstop
                # that keeps any other pyarrow failure on a user's file to one line.
                raise PreparationError(
                    f"{reader.path}: cannot read it at or after line {line} ({e})"
                ) from e
            if block.num_rows:
                line = int(block.lines[-1]) + 1
            self.bad.add(bad_rows, record)
            if bad_rows:
                skipped += len(bad_rows)
                first_bad = first_bad or bad_rows[0]
            good += parsed.num_rows
            yield parsed, _assign(self.plan, file_index, block, parsed, offset)
        self.lines_per_file[reader.path] = reader.data_lines
        if good == 0:
            raise self._no_good_rows(file_index, skipped, first_bad)

    def _no_good_rows(
        self, file_index: int, skipped: int, first_bad: Optional[BadRow]
    ) -> PreparationError:
        reader, plan = self.plan.readers[file_index], self.plan
        where = f"{plan.role(file_index)} {reader.path}"
        if isinstance(plan.split, GivenSplit):
            split = SPLITS[plan.split.file_splits[file_index]]
            where += f" (the {split} split)"
        if skipped and first_bad is not None:
            return PreparationError(
                f"{where}: no good rows: all {skipped} of its {reader.data_lines} lines are "
                f"bad rows, skipped with --on_bad_row skip (first: {first_bad.message()})"
            )
        return PreparationError(
            f"{where}: no good rows in {reader.data_lines} lines (wrong format or separator?)"
        )


def _assign(
    plan: PreparationPlan,
    file_index: int,
    block: RawBlock,
    parsed: ParsedRows,
    offset: int,
) -> np.ndarray:
    rows = parsed.lines - block.first_data_line
    return plan.split.assign(file_index, rows, rows + offset)


def _blocks(reader: RowReader, prefetch: bool) -> Iterator[RawBlock]:
    if not prefetch:
        return reader.blocks()
    return _prefetched(reader)


def _prefetched(reader: RowReader) -> Iterator[RawBlock]:
    # pyarrow parses without the GIL, so parsing the next block overlaps the work on
    # this one; the thread starts with the first block and stops however the consumer
    # leaves.
    with BackgroundIterator(reader.blocks(), depth=2, name="block-reader") as blocks:
        yield from blocks
