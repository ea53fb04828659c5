import os
import tempfile
import unittest

import numpy as np

from tests.data.helpers import write_indexed_dataset
from torchrec_dlf.data.metadata import DatasetFormatError, DatasetMetadata, split_files
from torchrec_dlf.data.parquet_loader import ParquetBatchLoader
from torchrec_dlf.data.row_groups import RowGroup, RowGroupIndex, RowGroupReader
from torchrec_dlf.data.writer import PreparedDatasetWriter


def _index(directory: str, split: str = "train") -> RowGroupIndex:
    meta = DatasetMetadata.read(directory)
    return RowGroupIndex(split_files(directory, meta, split), meta)


class RowGroupIndexTest(unittest.TestCase):
    """Row groups in file order; files that do not hold what the metadata says are
    refused, naming the file."""

    def test_groups_in_file_order_and_seeded_order(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            write_indexed_dataset(d, {"train": 40}, row_group_rows=16, file_rows=32)
            index = _index(d)
            self.assertEqual(
                index.groups,
                [RowGroup(0, 0, 16), RowGroup(0, 1, 16), RowGroup(1, 0, 8)],
            )
            self.assertEqual(index.num_rows, 40)
            self.assertIs(index.order(False, 0, 3), index.groups)
            shuffled = index.order(True, 1, 2)
            self.assertEqual(sorted(shuffled, key=index.groups.index), index.groups)
            self.assertEqual(shuffled, index.order(True, 1, 2))

    def test_ids_outside_the_vocabulary(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            meta = write_indexed_dataset(os.path.join(d, "ds"), {"train": 64}, vocab=50)
            meta.vocab_sizes = {**meta.vocab_sizes, "C2": 20}
            with self.assertRaisesRegex(
                DatasetFormatError,
                r"^.*/train/part-00000.parquet: row group 0, field C2 holds values in \[0, 30\], "
                r"outside \[0, 19\] that its metadata allows$",
            ):
                ParquetBatchLoader(os.path.join(d, "ds"), "train", 8, metadata=meta)

    def test_non_finite_numbers(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            ds = os.path.join(d, "ds")
            writer = PreparedDatasetWriter(ds, "inf", ["I1"], ["C1"], row_group_rows=4)
            numeric = np.ones((8, 1), np.float32)
            numeric[5] = -np.inf
            writer.write("train", np.zeros(8), numeric, np.zeros((8, 1), int))
            writer.commit({"C1": 1})
            with self.assertRaisesRegex(
                DatasetFormatError,
                r"part-00000.parquet: row group 1, numeric field I1 holds non-finite values",
            ):
                ParquetBatchLoader(ds, "train", 8)

    def test_corrupt_file_is_named(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            ds = os.path.join(d, "ds")
            write_indexed_dataset(ds, {"train": 64})
            part = os.path.join(ds, "train", "part-00000.parquet")
            with open(part, "r+b") as f:
                f.truncate(os.path.getsize(part) - 100)
            with self.assertRaisesRegex(
                DatasetFormatError,
                r"^.*/train/part-00000.parquet: not a readable Parquet file",
            ):
                ParquetBatchLoader(ds, "train", 8)


class RowGroupReaderTest(unittest.TestCase):
    def test_reads_the_prepared_columns_of_a_group(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            write_indexed_dataset(d, {"train": 40}, row_group_rows=16, file_rows=32)
            index = _index(d)
            reader = RowGroupReader(index)
            table = reader.read(index.groups[2])
            self.assertEqual(table.column_names, index.columns)
            np.testing.assert_allclose(table.column("I1").to_numpy(), np.arange(32, 40))
