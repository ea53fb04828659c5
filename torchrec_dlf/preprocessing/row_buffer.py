"""Parsed rows gathered across blocks until there are enough to encode at once."""

from typing import List, Tuple

import numpy as np

from torchrec_dlf.preprocessing.record_layout import ParsedRows


class RowBuffer:
    """
    Parsed rows (of any split) and their split ids, gathered until there are enough to
    encode at once (a vocabulary lookup costs a hash table build per call).
    """

    def __init__(self) -> None:
        self.parts: List[ParsedRows] = []
        self.splits: List[np.ndarray] = []
        self.rows = 0

    def add(self, rows: ParsedRows, splits: np.ndarray) -> None:
        if rows.num_rows:
            self.parts.append(rows)
            self.splits.append(splits)
            self.rows += rows.num_rows

    def take(self) -> Tuple[List[ParsedRows], np.ndarray]:
        """The gathered rows and their splits; the buffer is empty afterwards."""
        parts, splits = self.parts, self.splits
        self.parts, self.splits, self.rows = [], [], 0
        return parts, (np.concatenate(splits) if splits else np.zeros(0, np.int8))
