import unittest

from torchrec_dlf.data.rank_share import RankShare


class RankShareTest(unittest.TestCase):
    def test_train_shares_are_equal_and_drop_the_rest(self) -> None:
        shares = [RankShare.of(203, r, 3, "train") for r in range(3)]
        self.assertEqual(
            shares,
            [RankShare(0, 67, 67), RankShare(67, 134, 67), RankShare(134, 201, 67)],
        )

    def test_eval_shares_cover_every_row_and_yield_the_longest(self) -> None:
        shares = [RankShare.of(203, r, 3, "eval") for r in range(3)]
        self.assertEqual(
            [(s.start, s.end) for s in shares], [(0, 68), (68, 136), (136, 203)]
        )
        self.assertEqual({s.rows for s in shares}, {68})
        self.assertEqual(RankShare.of(3, 3, 4, "eval"), RankShare(3, 3, 1))

    def test_num_batches(self) -> None:
        share = RankShare(0, 100, 100)
        self.assertEqual(share.num_batches(32, drop_last=False), 4)
        self.assertEqual(share.num_batches(32, drop_last=True), 3)
