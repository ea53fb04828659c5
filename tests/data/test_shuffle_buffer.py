import unittest

import numpy as np

from torchrec_dlf.data.shuffle_buffer import BatchLayout, buffered_batches


def _blocks(sizes):
    start = 0
    for n in sizes:
        yield (np.arange(start, start + n),)
        start += n


def _pad(rows, size):
    have = 0 if rows is None else len(rows[0])
    pad = np.full(size - have, -1)
    return (pad if rows is None else np.concatenate([rows[0], pad]),)


class BatchLayoutTest(unittest.TestCase):
    """`BatchLayout` and the `buffered_batches` it drives."""

    def _cut(self, sizes, **kw):
        layout = BatchLayout(
            **{
                "batch_size": 4,
                "buffer_rows": 6,
                "num_batches": 3,
                "rows": 10,
                "shuffle_seed": None,
                "pad": False,
                **kw,
            }
        )
        return [
            (f, rows.tolist())
            for f, (rows,) in buffered_batches(_blocks(sizes), layout, _pad)
        ]

    def test_in_order_cuts_at_flushes(self) -> None:
        self.assertEqual(
            self._cut([3, 3, 4]),
            [(0, [0, 1, 2, 3]), (1, [4, 5, 6, 7]), (2, [8, 9])],
        )

    def test_num_batches_bounds_the_cuts(self) -> None:
        self.assertEqual(len(self._cut([3, 3, 4], num_batches=2)), 2)

    def test_padding_to_the_rank_rows(self) -> None:
        cuts = self._cut([3, 3, 3], rows=10, pad=True)
        self.assertEqual(cuts[-2:], [(1, [4, 5, 6, 7]), (1, [8, -1])])
        cuts = self._cut([4, 4], rows=9, pad=True)  # ends on a batch boundary
        self.assertEqual(cuts[-1][1], [-1])

    def test_shuffle_is_seeded_and_keeps_every_row(self) -> None:
        a = self._cut([3, 3, 4], shuffle_seed=(0, 1, 1))
        self.assertEqual(sorted(sum((r for _, r in a), [])), list(range(10)))
        self.assertEqual(a, self._cut([3, 3, 4], shuffle_seed=(0, 1, 1)))
        self.assertNotEqual(a, self._cut([3, 3, 4], shuffle_seed=(0, 2, 1)))
