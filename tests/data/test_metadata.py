import json
import os
import shutil
import tempfile
import unittest

import numpy as np

from torchrec_dlf.data.metadata import (
    DatasetFormatError,
    DatasetMetadata,
    FORMAT_VERSION,
    METADATA_FILE,
    SplitInfo,
)
from torchrec_dlf.preprocessing.cli import run as prepare
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


def _clicks_csv(path: str, rows: int = 600) -> str:
    rng = np.random.default_rng(0)
    with open(path, "w") as f:
        f.write("label,c1,c2\n")
        for _ in range(rows):
            f.write(f"{rng.integers(0, 2)},a{rng.integers(0, 5)},b{rng.integers(0, 7)}\n")
    return path


class DatasetIdentityTest(unittest.TestCase):
    """The digest that ties a checkpoint to the meaning of its ids."""

    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.TemporaryDirectory()
        d = cls._tmp.name
        csv = _clicks_csv(os.path.join(d, "clicks.csv"))
        cls.a, cls.b = os.path.join(d, "a"), os.path.join(d, "b")
        cls.scored = os.path.join(d, "scored")
        quiet = {"out": lambda line: None}
        prepare(["bars", csv, "--split", "random", "--seed", "1", "--output", cls.a], **quiet)
        prepare(["bars", csv, "--split", "random", "--seed", "2", "--output", cls.b], **quiet)
        prepare(["bars", csv, "--vocabulary_from", cls.a, "--output", cls.scored], **quiet)

    @classmethod
    def tearDownClass(cls) -> None:
        cls._tmp.cleanup()

    def test_recorded_and_recomputed(self) -> None:
        meta = DatasetMetadata.read(self.a)
        with open(os.path.join(self.a, METADATA_FILE)) as f:
            self.assertEqual(json.load(f)["identity"], meta.identity)
        self.assertEqual(meta.compute_identity(self.a), meta.identity)
        self.assertEqual(sorted(meta.options["file_sha256"]), sorted(meta.options["vocabulary_files"].values()))

    def test_same_vocabularies_same_identity(self) -> None:
        a, b = DatasetMetadata.read(self.a), DatasetMetadata.read(self.b)
        self.assertEqual(a.vocab_sizes, b.vocab_sizes)  # same shapes ...
        self.assertNotEqual(a.identity, b.identity)  # ... other ids (another split seed)
        # Scoring data prepared with the training vocabularies: the same ids.
        self.assertEqual(DatasetMetadata.read(self.scored).identity, a.identity)

    def _edited_copy(self, directory: str, edit) -> str:  # pyre-ignore[2]
        """A copy of dataset ``a`` in ``directory`` whose raw metadata ``edit`` changed."""
        ds = os.path.join(directory, "ds")
        shutil.copytree(self.a, ds)
        path = os.path.join(ds, METADATA_FILE)
        with open(path) as f:
            raw = json.load(f)
        edit(raw)
        with open(path, "w") as f:
            json.dump(raw, f)
        return ds

    def test_edited_metadata_is_refused(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            ds = self._edited_copy(d, lambda raw: raw["vocab_sizes"].update(c1=raw["vocab_sizes"]["c1"] - 1))
            with self.assertRaisesRegex(DatasetFormatError, r"metadata.json: edited after preparation"):
                DatasetMetadata.read(ds)

    def test_datasets_prepared_before_identities(self) -> None:
        identity = DatasetMetadata.read(self.a).identity

        def unrecorded(raw) -> None:  # pyre-ignore[2]
            del raw["identity"], raw["options"]["file_sha256"]

        with tempfile.TemporaryDirectory() as d:
            # Computed from the vocabulary files themselves: the same digest.
            self.assertEqual(DatasetMetadata.read(self._edited_copy(d, unrecorded)).identity, identity)
