import unittest

import numpy as np

from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.row_split import (
    TEST,
    TRAIN,
    VALID,
    DaySplit,
    GivenSplit,
    RandomSplit,
    mix64,
    order_day_files,
    parse_ratios,
    row_uniforms,
)


class RowUniformsTest(unittest.TestCase):
    def test_known_values(self) -> None:
        # splitmix64's finaliser of 1 (a published test vector of the mixer).
        self.assertEqual(int(mix64(np.array([1], np.uint64))[0]), 0x5692161D100B05E5)
        u = row_uniforms(7, np.arange(5))
        self.assertTrue(((u >= 0) & (u < 1)).all())
        np.testing.assert_array_equal(u, row_uniforms(7, np.arange(5)))
        self.assertFalse(np.array_equal(u, row_uniforms(8, np.arange(5))))

    def test_depends_on_row_only(self) -> None:
        rows = np.arange(1000)
        whole = row_uniforms(3, rows)
        parts = np.concatenate(
            [row_uniforms(3, rows[:123]), row_uniforms(3, rows[123:])]
        )
        np.testing.assert_array_equal(whole, parts)
        np.testing.assert_array_equal(row_uniforms(3, rows[[5, 900]]), whole[[5, 900]])


class RandomSplitTest(unittest.TestCase):
    def test_ratios(self) -> None:
        split = RandomSplit(parse_ratios("8,1,1"), seed=1)
        rows = np.arange(200_000)
        codes = split.assign(0, rows, rows)
        shares = np.bincount(codes, minlength=3) / len(rows)
        np.testing.assert_allclose(shares, [0.8, 0.1, 0.1], atol=0.005)
        np.testing.assert_array_equal(codes[:50], split.assign(5, rows[:50], rows[:50]))

    def test_parse_ratios(self) -> None:
        self.assertEqual(parse_ratios("2,1,1"), (0.5, 0.25, 0.25))
        for bad in ["8,1", "a,b,c", "0,0,0", "-1,1,1"]:
            with self.assertRaises(PreparationError):
                parse_ratios(bad)


class GivenSplitTest(unittest.TestCase):
    def test_files_and_valid_from_train(self) -> None:
        rows = np.arange(10_000)
        split = GivenSplit([TRAIN, TEST])
        self.assertTrue((split.assign(0, rows, rows) == TRAIN).all())
        self.assertTrue((split.assign(1, rows, rows) == TEST).all())
        carved = GivenSplit([TRAIN, TEST], valid_from_train=0.1, seed=0)
        codes = carved.assign(0, rows, rows + 777)
        self.assertAlmostEqual(float(np.mean(codes == VALID)), 0.1, delta=0.01)
        self.assertTrue(set(np.unique(codes)) <= {TRAIN, VALID})
        self.assertTrue((carved.assign(1, rows, rows) == TEST).all())
        with self.assertRaises(PreparationError):
            GivenSplit([TRAIN], valid_from_train=1.5)

    def test_splits_produced(self) -> None:
        self.assertEqual(
            GivenSplit([TRAIN, VALID, TEST]).splits(), [TRAIN, VALID, TEST]
        )
        self.assertEqual(GivenSplit([TRAIN, TEST], 0.1).splits(), [TRAIN, VALID, TEST])
        self.assertEqual(GivenSplit([TEST, TEST]).splits(), [TEST])
        self.assertEqual(GivenSplit([VALID, TEST]).splits(), [VALID, TEST])
        self.assertEqual(RandomSplit((0.8, 0.1, 0.1), 0).splits(), [TRAIN, VALID, TEST])
        # A share of 0 (API only; the command line refuses it) asks for no split.
        self.assertEqual(RandomSplit((1.0, 0.0, 0.0), 0).splits(), [TRAIN])


class DaySplitTest(unittest.TestCase):
    def test_last_day_halved(self) -> None:
        split = DaySplit(3, last_file_rows=5)
        rows = np.arange(5)
        self.assertTrue((split.assign(1, rows, rows) == TRAIN).all())
        self.assertEqual(split.assign(2, rows, rows).tolist(), [VALID] * 3 + [TEST] * 2)
        self.assertEqual([split.has_train(i) for i in range(3)], [True, True, False])

    def test_day_files_in_numeric_order(self) -> None:
        paths = [f"/d/day_{i}" for i in (0, 1, 10, 11, 2, 3)]
        self.assertEqual(
            order_day_files(paths), [f"/d/day_{i}" for i in (0, 1, 2, 3, 10, 11)]
        )
        self.assertEqual(
            order_day_files(["day_1.gz", "day_0.gz"]), ["day_0.gz", "day_1.gz"]
        )
        with self.assertRaisesRegex(PreparationError, "named day_N"):
            order_day_files(["day_0", "train.txt"])
        with self.assertRaisesRegex(PreparationError, "a day twice"):
            order_day_files(["a/day_0", "b/day_0"])
