import gc
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from unittest import mock

import numpy as np

from tests.data.helpers import assert_same_batches, row_ids, write_indexed_dataset
from tests.scripts import ROOT
from torchrec_dlf.data import worker_loader
from torchrec_dlf.data.epoch_batches import PAD_POSITION
from torchrec_dlf.data.metadata import DatasetFormatError
from torchrec_dlf.data.parquet_loader import ParquetBatchLoader
from torchrec_dlf.data.worker_loader import (
    EpochBatchDataset,
    SegmentBuilder,
    WorkerBatchIterator,
    segment_batches,
    segments,
)


class _DatasetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.TemporaryDirectory()
        cls.ds = os.path.join(cls._tmp.name, "ds")
        write_indexed_dataset(
            cls.ds, {"train": 300, "valid": 203}, row_group_rows=16, file_rows=64
        )

    @classmethod
    def tearDownClass(cls) -> None:
        cls._tmp.cleanup()

    def _loader(self, split="train", **kw) -> ParquetBatchLoader:
        kw.setdefault("shuffle_buffer_rows", 40)
        return ParquetBatchLoader(self.ds, split, 16, **kw)


class SegmentBuilderTest(_DatasetTest):
    def test_batches_hold_the_rows_at_the_positions(self) -> None:
        loader = self._loader("valid", mode="eval", rank=2, world_size=3)
        epoch = loader.epoch_batches()
        first, _ = loader.row_range()  # in eval mode the stream is the file order
        positions = [
            np.array([5, 0, 3]),
            np.array([60, PAD_POSITION, 5]),
            np.array([66]),
        ]
        segment = SegmentBuilder(epoch).build(positions)
        got = list(segment_batches(segment, epoch.keys))
        self.assertEqual([b.labels.numel() for b in got], [3, 3, 1])
        for p, batch in zip(positions, got):
            expected = np.where(p == PAD_POSITION, 0, p + first)  # padding: row 0
            np.testing.assert_array_equal(row_ids(batch), expected)
            labels = np.where(p == PAD_POSITION, -1.0, (p + first) % 2)
            np.testing.assert_array_equal(batch.labels.numpy(), labels)
            cat = batch.sparse_features["C2"].values().numpy()
            np.testing.assert_array_equal(cat, expected * 2)
            self.assertEqual(batch.sparse_features.stride(), len(p))


class EpochBatchDatasetTest(_DatasetTest):
    def test_workers_take_every_other_segment(self) -> None:
        epoch = self._loader(shuffle=True, seed=4).epoch_batches()
        dataset = EpochBatchDataset(epoch, start_batch=1)
        all_segments = list(segments(epoch.plan(1), dataset.min_batches))
        self.assertGreater(len(all_segments), 2)
        per_worker = []
        for worker in range(2):
            info = mock.Mock(id=worker, num_workers=2)
            with mock.patch.object(worker_loader, "get_worker_info", return_value=info):
                per_worker.append([s[3].tolist() for s in dataset])
        sizes = [[len(p) for p in s] for s in all_segments]
        self.assertEqual(per_worker[0], sizes[0::2])
        self.assertEqual(per_worker[1], sizes[1::2])

    def test_segments_end_on_flush_boundaries(self) -> None:
        plan = [(0, 1), (0, 2), (1, 3), (2, 4), (2, 5), (3, 6)]
        self.assertEqual(list(segments(iter(plan), 2)), [[1, 2], [3, 4, 5], [6]])


class WorkerBatchIteratorTest(_DatasetTest):
    def test_same_batches_as_the_thread(self) -> None:
        cases = [
            dict(shuffle=True, seed=1),
            dict(shuffle=True, drop_last=True, rank=1, world_size=2),
            dict(split="valid", mode="eval", rank=1, world_size=3),
        ]
        for kw in cases:
            loader = self._loader(**kw)
            loader.set_epoch(3)
            thread = list(loader)
            for workers in (1, 2):
                epoch = loader.epoch_batches()
                assert_same_batches(
                    self, thread, list(WorkerBatchIterator(epoch, 0, workers))
                )
                resumed = WorkerBatchIterator(epoch, 5, workers)
                assert_same_batches(self, thread[5:], list(resumed))

    def test_close_mid_epoch_stops_the_workers(self) -> None:
        batches = iter(self._loader(shuffle=True, loader_workers=2))
        next(batches)  # abandoned mid-epoch, as early stopping does
        self.assertTrue(batches.running)
        batches.close()
        self.assertFalse(batches.running)
        self.assertRaises(StopIteration, next, batches)

    def test_dropped_iterator_stops_its_workers(self) -> None:
        batches = iter(self._loader(shuffle=True, loader_workers=2))
        next(batches)
        workers = list(batches._workers)
        del batches
        gc.collect()
        deadline = time.monotonic() + 30
        while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertFalse(any(w.is_alive() for w in workers))

    def test_interpreter_exit_mid_epoch_is_clean(self) -> None:
        script = textwrap.dedent(
            f"""
            from torchrec_dlf.data.parquet_loader import ParquetBatchLoader
            batches = iter(ParquetBatchLoader({self.ds!r}, "train", 16, shuffle=True, loader_workers=2))
            next(batches)
            print("abandoned")
            """
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])
        self.assertIn("abandoned", done.stdout)

    def test_dataset_errors_reach_the_consumer_unchanged(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            write_indexed_dataset(d, {"train": 64})
            loader = ParquetBatchLoader(d, "train", 8, loader_workers=1)
            part = os.path.join(d, "train", "part-00000.parquet")
            with open(part, "r+b") as f:
                f.truncate(os.path.getsize(part) - 100)
            with self.assertRaisesRegex(
                DatasetFormatError, r"^.*/train/part-00000.parquet: not a readable"
            ):
                list(loader)
