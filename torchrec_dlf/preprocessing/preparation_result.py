"""What a preparation reports: the written metadata, the bad rows, the time taken."""

from dataclasses import dataclass, field
from typing import List

from torchrec_dlf.data.metadata import SPLITS, DatasetMetadata
from torchrec_dlf.preprocessing.bad_rows import BadRowLog


@dataclass
class PreparationResult:
    """
    Args:
        metadata (DatasetMetadata): the written dataset's metadata.
        bad_rows (BadRowLog): the skipped bad rows.
        seconds (float): wall time.
        lines_read (int): data lines of all inputs.
        warnings (List[str]): things the user should know about the prepared data
            (e.g. large untransformed numeric values), one line each.
    """

    metadata: DatasetMetadata
    bad_rows: BadRowLog
    seconds: float
    lines_read: int
    warnings: List[str] = field(default_factory=list)

    def summary(self) -> List[str]:
        meta = self.metadata
        lines = [
            f"prepared {meta.name!r}: {len(meta.numeric)} numeric, {len(meta.categorical)} categorical fields"
        ]
        for name in SPLITS:
            if name in meta.splits:
                s = meta.splits[name]
                share = s.positives / s.rows if s.rows else 0.0
                lines.append(
                    f"  {name}: {s.rows} rows, {s.positives} positive ({share:.2%})"
                )
        for name, bag in (meta.options.get("bags") or {}).items():
            if bag.get("dropped_values"):
                lines.append(
                    f"  {name}: {bag['truncated_bags']} bags cut to max_length "
                    f"{bag['max_length']}, {bag['dropped_values']} values dropped"
                )
        rate = self.lines_read / self.seconds if self.seconds > 0 else 0.0
        lines.append(
            f"  {self.lines_read} input lines in {self.seconds:.1f}s ({rate:,.0f} lines/s)"
        )
        return lines + self.bad_rows.summary()
