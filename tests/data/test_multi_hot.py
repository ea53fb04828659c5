"""Multi-hot (list) fields: metadata, and the KJTs the real loader builds from them."""

import json
import os
import tempfile
import unittest

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from tests.data.helpers import (
    bag_rows_of,
    row_ids,
    write_bag_dataset,
    write_indexed_dataset,
)
from torchrec_dlf.background_iterator import close_all
from torchrec_dlf.data.batching import PADDING_LABEL
from torchrec_dlf.data.metadata import (
    METADATA_FILE,
    DatasetFormatError,
    DatasetMetadata,
)
from torchrec_dlf.data.parquet_loader import ParquetBatchLoader

KEYS = ["C1", "G", "T"]


def expected_kjt(rows):  # pyre-ignore[2,3]
    """Values, lengths and weights, key-major, of the Parquet rows ``rows``."""
    values, lengths, weights = [], [], []
    for key in KEYS:
        for i in rows:
            bag = bag_rows_of(i)[key]
            bag = [bag] if key == "C1" else bag
            values += bag
            lengths.append(len(bag))
            weights += bag_rows_of(i)["G_weight"] if key == "G" else [1.0] * len(bag)
    return values, lengths, weights


class MultiHotMetadataTest(unittest.TestCase):
    def test_round_trip_and_one_hot_metadata_unchanged(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            meta = write_bag_dataset(os.path.join(d, "bags"))
            read = DatasetMetadata.read(os.path.join(d, "bags"))
            self.assertEqual(read, meta)
            self.assertEqual(read.multi_hot["G"].weights, "G_weight")
            self.assertEqual(read.pooling_factor("C1"), 1.0)
            self.assertAlmostEqual(read.pooling_factor("T"), 22 / 23)
            self.assertEqual(read.bag_slots(), [(0, 1), (1, 4), (4, 6)])
            self.assertTrue(read.weighted)
            one_hot = os.path.join(d, "one_hot")
            write_indexed_dataset(one_hot, {"train": 8})
            raw = json.load(open(os.path.join(one_hot, METADATA_FILE)))
            self.assertNotIn("multi_hot", raw)  # absent key: all one-hot
            self.assertEqual(DatasetMetadata.read(one_hot).multi_hot, {})

    def test_bad_bag_info_is_refused(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            ds = os.path.join(d, "bags")
            write_bag_dataset(ds)
            path = os.path.join(ds, METADATA_FILE)
            raw = json.load(open(path))
            raw["multi_hot"]["T"]["pooling"] = "max"
            json.dump(raw, open(path, "w"))
            with self.assertRaisesRegex(DatasetFormatError, "pooling 'max'"):
                DatasetMetadata.read(ds)
            raw["multi_hot"]["T"]["pooling"] = "mean"  # G is weighted
            json.dump(raw, open(path, "w"))
            with self.assertRaisesRegex(DatasetFormatError, "weighted datasets pool"):
                DatasetMetadata.read(ds)
            raw["multi_hot"]["C9"] = raw["multi_hot"].pop("T")
            json.dump(raw, open(path, "w"))
            with self.assertRaisesRegex(
                DatasetFormatError, "'C9' is not a categorical"
            ):
                DatasetMetadata.read(ds)


class MultiHotLoaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.TemporaryDirectory()
        cls.ds = os.path.join(cls._tmp.name, "bags")
        # 23 rows over two files of row groups of 5: bags of 0-3 ids, empty ones.
        write_bag_dataset(cls.ds)

    @classmethod
    def tearDownClass(cls) -> None:
        close_all()
        cls._tmp.cleanup()

    def _check(self, batch) -> int:  # pyre-ignore[2]
        kjt = batch.sparse_features
        real = batch.labels != PADDING_LABEL
        rows = row_ids(batch).tolist()
        values, lengths, weights = expected_kjt(rows)
        self.assertEqual(kjt.keys(), KEYS)
        self.assertEqual(kjt.stride(), len(rows))
        self.assertEqual(kjt.values().tolist(), values)
        self.assertEqual(kjt.values().dtype, torch.int64)
        self.assertEqual(kjt.lengths().tolist(), lengths)
        self.assertEqual(kjt.offsets().tolist()[-1], len(values))
        self.assertTrue(torch.allclose(kjt.weights(), torch.tensor(weights)))
        # TorchRec's own reading of the layout: each key's bags, row by row.
        per_key = kjt.to_dict()
        for key in ("G", "T"):
            bags = [t.tolist() for t in per_key[key].to_dense()]
            self.assertEqual(bags, [bag_rows_of(i)[key] for i in rows])
        return int(real.sum())

    def test_kjt_equals_parquet_rows_on_two_ranks(self) -> None:
        for workers in (0, 1):
            for mode, shuffle in (("eval", False), ("train", True)):
                seen = []
                for rank in range(2):
                    loader = ParquetBatchLoader(
                        self.ds,
                        "train",
                        4,
                        rank,
                        2,
                        mode=mode,
                        shuffle=shuffle,
                        shuffle_buffer_rows=6,
                        loader_workers=workers,
                    )
                    for batch in loader:
                        self._check(batch)
                        real = (batch.labels != PADDING_LABEL).numpy()
                        seen += row_ids(batch)[real].tolist()
                expected = 23 if mode == "eval" else 22  # train: 11 rows per rank
                self.assertEqual(len(seen), expected)
                self.assertEqual(len(set(seen)), expected)

    def test_worker_batches_equal_thread_batches(self) -> None:
        def batches(workers):  # pyre-ignore[2,3]
            loader = ParquetBatchLoader(
                self.ds, "train", 3, shuffle=True, seed=3, loader_workers=workers
            )
            return list(loader)

        for a, b in zip(batches(0), batches(2)):
            x, y = a.sparse_features, b.sparse_features
            for name in ("values", "lengths", "offsets", "weights"):
                self.assertTrue(torch.equal(getattr(x, name)(), getattr(y, name)()))
            self.assertTrue(torch.equal(a.dense_features, b.dense_features))


class MultiHotBadInputTest(unittest.TestCase):
    def _rewrite(self, ds: str, column: str, array: pa.Array) -> str:
        path = os.path.join(ds, "train", "part-00001.parquet")
        table = pq.read_table(path)
        i = table.schema.get_field_index(column)
        pq.write_table(table.set_column(i, column, array), path, row_group_size=5)
        return path

    def test_non_integer_and_null_elements_and_long_bags(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            ds = os.path.join(d, "bags")
            write_bag_dataset(ds)
            floats = pa.array([[0.5]] * 8, pa.list_(pa.float64()))
            path = self._rewrite(ds, "G", floats)
            with self.assertRaisesRegex(
                DatasetFormatError,
                f"{path}: field G is a list<\\w+: double> column, not the list of "
                "integer ids",
            ):
                ParquetBatchLoader(ds, "train", 4)
            write_bag_dataset(ds)
            nulls = pa.array(
                [[1], [1], [1], [1, None]] + [[1]] * 4, pa.list_(pa.int32())
            )
            self._rewrite(ds, "T", nulls)
            with self.assertRaisesRegex(
                DatasetFormatError, f"{path}: row 3, field T: a bag holds a null"
            ):
                list(ParquetBatchLoader(ds, "train", 4, prefetch_batches=0))
            long = pa.array([[1]] * 6 + [[1, 2, 3], [1]], pa.list_(pa.int32()))
            self._rewrite(ds, "T", long)
            with self.assertRaisesRegex(
                DatasetFormatError,
                f"{path}: row 6, field T: a bag of 3 ids, longer than the max_length 2",
            ):
                list(ParquetBatchLoader(ds, "train", 4, prefetch_batches=0))
            write_bag_dataset(ds)
            weights = [bag_rows_of(i)["G_weight"] for i in range(15, 23)]
            weights[2] = weights[2][:-1]  # row 17 has 1 id (17 % 4) in G
            self._rewrite(ds, "G_weight", pa.array(weights, pa.list_(pa.float32())))
            with self.assertRaisesRegex(
                DatasetFormatError,
                f"{path}: row 2, field G: 0 weights in G_weight for a bag of 1 ids",
            ):
                list(ParquetBatchLoader(ds, "train", 4, prefetch_batches=0))


if __name__ == "__main__":
    unittest.main()
