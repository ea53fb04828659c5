import unittest

import numpy as np

from torchrec_dlf.data.batching import PADDING_LABEL
from torchrec_dlf.data.rows import concat_rows, pad_rows, slice_rows, take_rows


def _rows(n: int, start: int = 0):
    idx = np.arange(start, start + n)
    return (
        (idx % 2).astype(np.int8),
        np.stack([idx, idx], 1).astype(np.float32),
        np.stack([idx], 1).astype(np.int32),
    )


class RowsTest(unittest.TestCase):
    def test_concat_take_slice(self) -> None:
        rows = concat_rows([_rows(3), _rows(2, 3)])
        self.assertEqual(rows[2][:, 0].tolist(), [0, 1, 2, 3, 4])
        self.assertEqual(take_rows(rows, np.array([4, 0]))[2][:, 0].tolist(), [4, 0])
        self.assertEqual(slice_rows(rows, 1, 3)[2][:, 0].tolist(), [1, 2])
        self.assertEqual(
            concat_rows([(np.arange(2),), (np.arange(1),)])[0].tolist(), [0, 1, 0]
        )

    def test_pad_with_the_first_row(self) -> None:
        first = _rows(1, 7)
        labels, dense, cat = pad_rows(_rows(2), 4, first)
        self.assertEqual(labels.tolist(), [0, 1, PADDING_LABEL, PADDING_LABEL])
        self.assertEqual(cat[:, 0].tolist(), [0, 1, 7, 7])
        self.assertEqual(dense[:, 0].tolist(), [0, 1, 7, 7])
        self.assertEqual(pad_rows(None, 2, first)[2][:, 0].tolist(), [7, 7])
        rows = _rows(2)
        self.assertIs(pad_rows(rows, 2, first), rows)
