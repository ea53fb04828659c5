import os
import tempfile
import unittest

import numpy as np

from tests.data.helpers import row_ids, write_indexed_dataset
from torchrec_dlf.data.epoch_batches import (
    PAD_POSITION,
    EpochBatches,
    RowSlice,
    rank_slices,
)
from torchrec_dlf.data.parquet_loader import ParquetBatchLoader
from torchrec_dlf.data.rank_share import RankShare
from torchrec_dlf.data.row_groups import RowGroup


class EpochBatchesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.TemporaryDirectory()
        cls.ds = os.path.join(cls._tmp.name, "ds")
        write_indexed_dataset(
            cls.ds, {"train": 200, "valid": 203}, row_group_rows=16, file_rows=64
        )

    @classmethod
    def tearDownClass(cls) -> None:
        cls._tmp.cleanup()

    def _epoch(self, **kw) -> EpochBatches:
        kw.setdefault("shuffle_buffer_rows", 40)
        split = "valid" if kw.get("mode") == "eval" else "train"
        return ParquetBatchLoader(self.ds, split, 32, **kw).epoch_batches()

    def test_rank_slices_cover_the_share(self) -> None:
        groups = [RowGroup(0, g, 10) for g in range(4)]
        self.assertEqual(
            rank_slices(groups, RankShare(15, 32, 17)),
            [
                RowSlice(groups[1], 5, 10, 0),
                RowSlice(groups[2], 0, 10, 5),
                RowSlice(groups[3], 0, 2, 15),
            ],
        )

    def test_plan_names_the_rows_of_the_batches(self) -> None:
        for kw in (dict(shuffle=True, seed=1), dict(mode="eval", rank=1, world_size=2)):
            epoch = self._epoch(**kw)
            stream = np.concatenate(
                [
                    np.arange(s.lo, s.hi) + 16 * (4 * s.group.file + s.group.row_group)
                    for s in epoch.slices
                ]
            )
            plan = list(epoch.plan())
            batches = list(epoch.batches())
            self.assertEqual(len(plan), len(batches))
            for (_, positions), batch in zip(plan, batches):
                real = positions != PAD_POSITION
                np.testing.assert_array_equal(
                    stream[positions[real]], row_ids(batch)[real]
                )
            flushes = [f for f, _ in plan]
            self.assertEqual(flushes, sorted(flushes))
            self.assertEqual(len(list(epoch.plan(3))), len(plan) - 3)

    def test_padding_copies_the_first_row(self) -> None:
        epoch = self._epoch(mode="eval", rank=2, world_size=3)
        last = list(epoch.batches())[-1]
        self.assertEqual(row_ids(last)[-1], 0)
        self.assertEqual(last.labels[-1].item(), -1.0)
