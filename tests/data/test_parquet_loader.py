import os
import tempfile
import unittest

import numpy as np
import pyarrow.parquet as pq
import torch

from tests.data.helpers import assert_same_batches, row_ids, write_indexed_dataset
from torchrec_dlf.background_iterator import close_all
from torchrec_dlf.data.batching import PADDING_LABEL
from torchrec_dlf.data.metadata import DatasetFormatError
from torchrec_dlf.data.parquet_loader import ParquetBatchLoader


class ParquetBatchLoaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.TemporaryDirectory()
        cls.ds = os.path.join(cls._tmp.name, "ds")
        # 203 rows in row groups of 16 over several files: nothing divides evenly.
        write_indexed_dataset(
            cls.ds, {"train": 200, "valid": 203}, row_group_rows=16, file_rows=64
        )

    @classmethod
    def tearDownClass(cls) -> None:
        cls._tmp.cleanup()

    def _loader(
        self, split="train", batch=32, rank=0, world=1, **kw
    ) -> ParquetBatchLoader:
        kw.setdefault("shuffle_buffer_rows", 40)
        return ParquetBatchLoader(self.ds, split, batch, rank, world, **kw)

    def test_eval_every_row_once_across_ranks_with_equal_batch_shapes(self) -> None:
        for world in (1, 2, 3):
            loaders = [
                self._loader("valid", 32, r, world, mode="eval") for r in range(world)
            ]
            per_rank = [list(loader) for loader in loaders]
            lengths = {len(b) for b in per_rank}
            self.assertEqual(lengths, {len(loaders[0])})  # same number of batches
            for step in zip(*per_rank):  # same batch size on every rank at every step
                self.assertEqual(len({b.labels.numel() for b in step}), 1)
            seen = []
            for batches in per_rank:
                for b in batches:
                    real = b.labels != PADDING_LABEL
                    seen += row_ids(b)[real.numpy()].tolist()
            self.assertEqual(sorted(seen), list(range(203)))

    def test_train_rows_once_per_epoch_and_shuffles(self) -> None:
        def epoch_rows(epoch, seed=0):
            out = []
            for r in range(2):
                loader = self._loader(rank=r, world=2, shuffle=True, seed=seed)
                loader.set_epoch(epoch)
                out.append(np.concatenate([row_ids(b) for b in loader]))
            return out

        e0, e1 = epoch_rows(0), epoch_rows(1)
        for rows in (e0, e1):
            self.assertEqual(sorted(np.concatenate(rows).tolist()), list(range(200)))
            self.assertEqual(len(rows[0]), len(rows[1]))
        self.assertFalse(np.array_equal(e0[0], e1[0]))  # a different order each epoch
        again = epoch_rows(0)
        self.assertTrue(np.array_equal(e0[0], again[0]))  # the same for the same seed
        other_seed = epoch_rows(0, seed=5)
        self.assertFalse(np.array_equal(e0[0], other_seed[0]))

    def test_rank_reads_only_its_row_groups(self) -> None:
        loader = self._loader(rank=1, world=2)
        rows = np.concatenate([row_ids(b) for b in loader])
        self.assertEqual(rows.tolist(), list(range(100, 200)))

    def test_batch_contents_equal_parquet_rows(self) -> None:
        loader = self._loader("valid", 20, mode="eval", prefetch_batches=0)
        meta = loader.metadata
        table = pq.read_table(
            [os.path.join(self.ds, f) for f in meta.split("valid").files][0]
        )
        batch = next(iter(loader))
        kjt = batch.sparse_features
        self.assertEqual(kjt.keys(), ["C1", "C2", "C3"])
        self.assertEqual(kjt.stride(), 20)
        for j, key in enumerate(kjt.keys()):
            jt = kjt[key]
            self.assertTrue(
                torch.equal(jt.lengths(), torch.ones(20, dtype=torch.int32))
            )
            self.assertEqual(jt.values().tolist(), table.column(key).to_pylist()[:20])
        self.assertEqual(
            batch.labels.tolist(),
            [float(x) for x in table.column("label").to_pylist()[:20]],
        )
        np.testing.assert_allclose(
            batch.dense_features.numpy(),
            np.stack([table.column(c).to_numpy()[:20] for c in ("I1", "I2")], axis=1),
        )
        self.assertEqual(kjt.values().dtype, torch.int64)
        self.assertEqual(batch.dense_features.dtype, torch.float32)

    def test_len_and_drop_last(self) -> None:
        self.assertEqual(len(self._loader(batch=32)), 7)  # 200 rows
        self.assertEqual(len(list(self._loader(batch=32))), 7)
        self.assertEqual(len(self._loader(batch=32, drop_last=True)), 6)
        sizes = [b.labels.numel() for b in self._loader(batch=32, drop_last=True)]
        self.assertEqual(sizes, [32] * 6)
        self.assertEqual(
            len(self._loader(batch=32, rank=1, world=3)), 3
        )  # 66 rows each

    def test_abandoned_prefetch_thread_stops_on_close(self) -> None:
        batches = iter(self._loader(shuffle=True, prefetch_batches=2))
        next(batches)  # abandoned mid-epoch, as early stopping does
        self.assertTrue(batches.running)
        close_all()  # what runs at interpreter exit
        self.assertFalse(batches.running)

    def test_prefetch_gives_identical_batches(self) -> None:
        a = [row_ids(b) for b in self._loader(shuffle=True, prefetch_batches=0)]
        b = [row_ids(b) for b in self._loader(shuffle=True, prefetch_batches=3)]
        self.assertEqual(len(a), len(b))
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)

    def test_loader_workers_give_identical_batches(self) -> None:
        for kw in (dict(shuffle=True, seed=2), dict(split="valid", mode="eval")):
            thread = list(self._loader(**kw))
            workers = list(self._loader(loader_workers=2, **kw))
            assert_same_batches(self, thread, workers)
        with self.assertRaisesRegex(ValueError, "loader_workers"):
            self._loader(loader_workers=-1)

    def test_more_ranks_than_rows(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            ds = os.path.join(d, "tiny")
            write_indexed_dataset(ds, {"valid": 3})
            per_rank = [
                list(ParquetBatchLoader(ds, "valid", 8, r, 4, mode="eval"))
                for r in range(4)
            ]
            self.assertEqual([len(b) for b in per_rank], [1, 1, 1, 1])
            labels = [b[0].labels.tolist() for b in per_rank]
            self.assertEqual(labels[3], [PADDING_LABEL])
            self.assertEqual([len(x) for x in labels], [1, 1, 1, 1])

    def test_row_count_mismatch_is_an_error(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            ds = os.path.join(d, "ds")
            meta = write_indexed_dataset(ds, {"train": 20})
            meta.splits["train"].rows = 21
            meta.write(ds)
            with self.assertRaisesRegex(
                DatasetFormatError,
                "20 rows in its Parquet files but its metadata says 21",
            ):
                ParquetBatchLoader(ds, "train", 4)

    def test_bad_arguments(self) -> None:
        with self.assertRaisesRegex(ValueError, "mode"):
            self._loader(mode="test")
        with self.assertRaisesRegex(ValueError, "rank 2 outside"):
            self._loader(rank=2, world=2)
        with self.assertRaisesRegex(ValueError, "batch_size"):
            self._loader(batch=0)

    def test_iterate_from_a_batch_continues_exactly(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            ds = os.path.join(d, "ds")
            write_indexed_dataset(ds, {"train": 300}, row_group_rows=16)
            loader = ParquetBatchLoader(
                ds, "train", 16, 1, 2, shuffle=True, seed=3, shuffle_buffer_rows=40
            )
            loader.set_epoch(2)
            full = [row_ids(b) for b in loader]
            for start in (0, 1, 4, len(full)):
                resumed = [row_ids(b) for b in loader.iterate(start_batch=start)]
                self.assertEqual(len(resumed), len(full) - start)
                for x, y in zip(full[start:], resumed):
                    np.testing.assert_array_equal(x, y)
            with self.assertRaisesRegex(ValueError, "start_batch"):
                loader.iterate(start_batch=len(full) + 1)
