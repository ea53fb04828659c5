import os
import tempfile
import unittest

import numpy as np
import pyarrow.parquet as pq

from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.data.writer import PreparedDatasetWriter
from tests.data.helpers import write_indexed_dataset


class PreparedDatasetWriterTest(unittest.TestCase):
    def test_row_groups_files_and_schema(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            ds = os.path.join(d, "ds")
            meta = write_indexed_dataset(ds, {"train": 100}, row_group_rows=16, file_rows=48)
            files = meta.split("train").files
            self.assertEqual(len(files), 3)  # 48 + 48 + 4 rows
            groups = []
            for f in files:
                md = pq.ParquetFile(os.path.join(ds, f)).metadata
                groups += [md.row_group(i).num_rows for i in range(md.num_row_groups)]
            self.assertEqual(groups, [16] * 6 + [4])
            schema = pq.read_schema(os.path.join(ds, files[0]))
            self.assertEqual(str(schema.field("label").type), "int8")
            self.assertEqual(str(schema.field("I1").type), "float")
            self.assertEqual(str(schema.field("C1").type), "int32")
            table = pq.read_table(os.path.join(ds, files[0]))
            self.assertEqual(table.column("C2").to_pylist()[:4], [0, 2, 4, 6])

    def test_replaces_existing_output_atomically(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            ds = os.path.join(d, "ds")
            write_indexed_dataset(ds, {"train": 10})
            write_indexed_dataset(ds, {"train": 30})
            self.assertEqual(DatasetMetadata.read(ds).split("train").rows, 30)
            self.assertEqual(sorted(os.listdir(d)), ["ds"])  # no temporary left behind

    def test_failure_leaves_nothing_and_keeps_old(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            ds = os.path.join(d, "ds")
            write_indexed_dataset(ds, {"train": 10})
            with self.assertRaises(RuntimeError):
                with PreparedDatasetWriter(ds, "x", ["I1"], ["C1"]) as w:
                    w.write("train", np.zeros(3, np.int8), np.zeros((3, 1)), np.zeros((3, 1)))
                    raise RuntimeError("interrupted")
            self.assertEqual(sorted(os.listdir(d)), ["ds"])
            self.assertEqual(DatasetMetadata.read(ds).split("train").rows, 10)

    def test_other_files_move_with_the_splits(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            ds = os.path.join(d, "ds")
            write_indexed_dataset(ds, {"train": 10})
            with PreparedDatasetWriter(ds, "x", ["I1"], ["C1"]) as w:
                w.write("train", np.zeros(3, np.int8), np.zeros((3, 1)), np.zeros((3, 1)))
                path = w.file_path("vocabulary/C1.parquet")
                self.assertFalse(path.startswith(ds + os.sep))  # in the temporary directory
                with open(path, "w") as f:
                    f.write("v")
                for bad in [
                    "",
                    "/abs",
                    "a/../b",
                    "./a",
                    "a//b",
                    "train/x",
                    "metadata.json",
                    "a\\b",
                ]:
                    with self.assertRaisesRegex(ValueError, "is not a relative path"):
                        w.file_path(bad)
                with self.assertRaisesRegex(ValueError, "already a file"):
                    w.file_path("vocabulary/C1.parquet")
                self.assertEqual(DatasetMetadata.read(ds).split("train").rows, 10)  # old one
                w.commit({"C1": 4})
            with open(os.path.join(ds, "vocabulary", "C1.parquet")) as f:
                self.assertEqual(f.read(), "v")
            self.assertEqual(sorted(os.listdir(d)), ["ds"])

    def test_a_file_never_written_fails_the_commit(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            ds = os.path.join(d, "ds")
            write_indexed_dataset(ds, {"train": 10})
            with self.assertRaisesRegex(
                ValueError, r"dataset files \['extra/x'\] were never written"
            ):
                with PreparedDatasetWriter(ds, "x", ["I1"], ["C1"]) as w:
                    w.file_path("extra/x")
                    w.commit({"C1": 4})
            self.assertEqual(sorted(os.listdir(d)), ["ds"])
            self.assertEqual(DatasetMetadata.read(ds).split("train").rows, 10)

    def test_shape_mismatch(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            with PreparedDatasetWriter(os.path.join(d, "ds"), "x", ["I1"], ["C1"]) as w:
                with self.assertRaisesRegex(ValueError, "shape mismatch"):
                    w.write("train", np.zeros(3, np.int8), np.zeros((3, 2)), np.zeros((3, 1)))
