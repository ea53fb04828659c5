import json
import os
import tempfile
import unittest

from torchrec_dlf.data.metadata import (
    DatasetFormatError,
    DatasetMetadata,
    FORMAT_VERSION,
    METADATA_FILE,
    SplitInfo,
)
from tests.data.helpers import write_indexed_dataset


class DatasetMetadataTest(unittest.TestCase):
    def test_round_trip(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            meta = write_indexed_dataset(os.path.join(d, "ds"), {"train": 40, "test": 10})
            read = DatasetMetadata.read(os.path.join(d, "ds"))
            self.assertEqual(read, meta)
            self.assertEqual(read.columns, ["label", "I1", "I2", "C1", "C2", "C3"])
            self.assertEqual(read.split("train").rows, 40)
            self.assertEqual(read.split("train").positives, 20)

    def test_missing_directory_or_file(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaisesRegex(DatasetFormatError, "no metadata.json"):
                DatasetMetadata.read(d)
            ds = os.path.join(d, "ds")
            write_indexed_dataset(ds, {"train": 20})
            os.remove(os.path.join(ds, "train", "part-00000.parquet"))
            with self.assertRaisesRegex(DatasetFormatError, "part-00000.parquet, which does not exist"):
                DatasetMetadata.read(ds)

    def test_incompatible_version(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            ds = os.path.join(d, "ds")
            write_indexed_dataset(ds, {"train": 20})
            path = os.path.join(ds, METADATA_FILE)
            raw = json.load(open(path))
            raw["format_version"] = FORMAT_VERSION + 1
            json.dump(raw, open(path, "w"))
            with self.assertRaisesRegex(DatasetFormatError, "format version 2.*prepare the data again"):
                DatasetMetadata.read(ds)
            raw["format"] = "something-else"
            json.dump(raw, open(path, "w"))
            with self.assertRaisesRegex(DatasetFormatError, "not a torchrec_dlf prepared dataset"):
                DatasetMetadata.read(ds)

    def test_corrupt_json_and_unknown_split(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            ds = os.path.join(d, "ds")
            meta = write_indexed_dataset(ds, {"train": 20})
            with self.assertRaisesRegex(DatasetFormatError, "split 'valid' is not prepared"):
                meta.split("valid")
            open(os.path.join(ds, METADATA_FILE), "w").write("{not json")
            with self.assertRaisesRegex(DatasetFormatError, "not valid JSON"):
                DatasetMetadata.read(ds)

    def test_vocab_size_required(self) -> None:
        with self.assertRaisesRegex(DatasetFormatError, "no vocab_size"):
            DatasetMetadata("x", [], ["C1"], {}, {"train": SplitInfo([], 0, 0)})
