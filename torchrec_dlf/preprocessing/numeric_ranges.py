"""The stored value range of every numeric field: recorded, and warned about."""

from typing import Dict, List, Sequence, Tuple

import numpy as np

from torchrec_dlf.preprocessing.column_parsers import NumericParser
from torchrec_dlf.preprocessing.record_layout import RecordLayout

# Stored numeric values beyond this, untransformed, are worth a warning: they go into
# the dense arch unscaled.
LARGE_UNTRANSFORMED = 1000.0


class NumericRanges:
    """The (transformed, stored) min and max of every numeric field, over all splits."""

    def __init__(self) -> None:
        self.ranges: Dict[str, Tuple[float, float]] = {}

    def note(self, names: Sequence[str], numeric: List[np.ndarray]) -> None:
        """Widens the ranges of the fields ``names`` by their ``numeric`` columns."""
        for name, values in zip(names, numeric):
            if not len(values):
                continue
            lo, hi = float(values.min()), float(values.max())
            if name in self.ranges:
                old_lo, old_hi = self.ranges[name]
                lo, hi = min(lo, old_lo), max(hi, old_hi)
            self.ranges[name] = (lo, hi)

    def describe(self) -> Dict[str, Dict[str, float]]:
        """The ranges as recorded in the metadata."""
        return {name: {"min": lo, "max": hi} for name, (lo, hi) in self.ranges.items()}

    def warnings(self, layout: RecordLayout) -> List[str]:
        """One line per numeric field stored untransformed with large values."""
        transforms = {
            f.name: p.transform
            for p in layout.parsers
            if isinstance(p, NumericParser)
            for f in p.outputs
        }
        lines = []
        for name, (lo, hi) in self.ranges.items():
            reach = max(abs(lo), abs(hi))
            if transforms.get(name) == "none" and reach > LARGE_UNTRANSFORMED:
                lines.append(
                    f"warning: numeric field {name} reaches {reach:.2g} untransformed; "
                    f"consider --numeric log"
                )
        return lines
