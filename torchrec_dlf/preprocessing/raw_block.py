"""A block of raw input rows, as a reader hands it over."""

from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np
import pyarrow as pa

from torchrec_dlf.preprocessing.bad_rows import BadRow


@dataclass
class RawBlock:
    """
    Consecutive rows of one input file.

    Args:
        file (str): the file, as given (used in messages).
        lines (np.ndarray): int64, the 1-based physical line of every row.
        columns (Dict[str, pa.Array]): binary values of every raw column (null where a
            field is absent from a row, e.g. in libFM).
        rejected (List[BadRow]): rows the reader found malformed itself (wrong number of
            fields, empty or undecodable lines, bad tokens); they are not in ``columns``.
        first_data_line (int): line of the file's first data row (2 after a header).
    """

    file: str
    lines: np.ndarray
    columns: Dict[str, pa.Array]
    rejected: List[BadRow] = field(default_factory=list)
    first_data_line: int = 1

    @property
    def num_rows(self) -> int:
        return int(self.lines.shape[0])

    def data_rows(self) -> np.ndarray:
        """0-based ordinal of every row among the file's data lines (bad lines included)."""
        return self.lines - self.first_data_line

    def filter(self, keep: np.ndarray) -> "RawBlock":
        mask = pa.array(keep)
        return RawBlock(
            file=self.file,
            lines=self.lines[keep],
            columns={k: v.filter(mask) for k, v in self.columns.items()},
            rejected=self.rejected,
            first_data_line=self.first_data_line,
        )
