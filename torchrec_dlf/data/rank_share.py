"""Which rows of a split one rank reads, and how many batches that gives it."""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RankShare:
    """
    One rank's share of a split of ``N`` rows over ``W`` ranks.

    * ``mode="train"``: every rank gets ``N // W`` rows (the fewer than ``W`` rows left
      over are not read this epoch).
    * ``mode="eval"``: every row exactly once across ranks, in file order; the first
      ``N % W`` ranks get one row more, and ``rows`` (what every rank yields) is the
      longest share, so that shorter shares are padded to the same batch shapes.

    Args:
        start (int): first row of the rank in the epoch's row order.
        end (int): end row (exclusive).
        rows (int): rows the rank must yield (real rows plus any padding).
    """

    start: int
    end: int
    rows: int

    @classmethod
    def of(cls, num_rows: int, rank: int, world_size: int, mode: str) -> "RankShare":
        """The share of ``rank`` in ``mode`` ("train" or "eval")."""
        if mode == "train":
            q = num_rows // world_size
            return cls(rank * q, (rank + 1) * q, q)
        base, extra = divmod(num_rows, world_size)
        start = rank * base + min(rank, extra)
        end = start + base + (1 if rank < extra else 0)
        return cls(start, end, base + (1 if extra else 0))

    def num_batches(self, batch_size: int, drop_last: bool) -> int:
        """Batches of ``batch_size`` rows (the last one partial unless ``drop_last``)."""
        if drop_last:
            return self.rows // batch_size
        return math.ceil(self.rows / batch_size)
