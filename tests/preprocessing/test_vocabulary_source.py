import json
import math
import os
import shutil
import tempfile
import unittest
from typing import Dict, List

import numpy as np
import pyarrow.parquet as pq

from tests.data.helpers import write_indexed_dataset
from tests.preprocessing.helpers import (
    AVAZU_HEADER,
    avazu_rows,
    column,
    libsvm_rows,
    ranges_of,
    read_split,
    vocabulary,
    write_text,
)
from tests.shared_data import shared_data
from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.inference.checkpoint_model import check_vocabulary
from torchrec_dlf.preprocessing.cli import build_plan, parse_args, run
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.options import CommonOptions, SplitOptions
from torchrec_dlf.preprocessing.preparation import prepare
from torchrec_dlf.preprocessing.preparation_result import PreparationResult
from torchrec_dlf.preprocessing.row_split import RandomSplit
from torchrec_dlf.preprocessing.sources.criteo import (
    CATEGORICAL_FIELDS,
    INTEGER_FIELDS,
    criteo_plan,
    write_criteo_tsv,
)
from torchrec_dlf.preprocessing.vocabulary_source import VocabularySource

SPLITS = ("train", "valid", "test")


def cli(*argv: str) -> PreparationResult:
    return run(list(argv) + ["--quiet", "--checksum", "none"], out=lambda line: None)


def cli_all_train(*argv: str) -> PreparationResult:
    """`cli` with every row in the train split (the command line refuses --ratios 1,0,0)."""
    args = parse_args(list(argv) + ["--quiet", "--checksum", "none"])
    plan = build_plan(args)
    plan.split = RandomSplit((1.0, 0.0, 0.0), args.seed)
    return prepare(plan, args.output)


def description(meta: DatasetMetadata) -> Dict:  # pyre-ignore[24]
    """The dataset part of a checkpoint's model description, as the trainer writes it."""
    return {
        "dataset": {
            "name": meta.name,
            "numeric": meta.numeric,
            "categorical": meta.categorical,
            "vocab_sizes": meta.vocab_sizes,
        }
    }


def read_lines(path: str) -> List[str]:
    with open(path) as f:
        return f.read().split("\n")[:-1]


class CriteoVocabularyFromTest(unittest.TestCase):
    """A Criteo dataset prepared from generated TSV; other raw files encoded with it."""

    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.TemporaryDirectory()
        cls.dir = d = cls._tmp.name
        cls.files = {s: os.path.join(d, f"{s}.txt") for s in SPLITS}
        for seed, split in enumerate(SPLITS):
            write_criteo_tsv(
                cls.files[split],
                {"train": 3000, "valid": 400, "test": 400}[split],
                seed=seed,
            )
        cls.source = os.path.join(d, "source")
        cls.result = cli(
            "criteo",
            "--split",
            "given",
            "--train",
            cls.files["train"],
            "--valid",
            cls.files["valid"],
            "--test",
            cls.files["test"],
            "--min_count",
            "2",
            "--output",
            cls.source,
        )
        cls.meta = cls.result.metadata
        # A file to score: train rows, valid rows and fresh rows, interleaved.
        train, valid = read_lines(cls.files["train"]), read_lines(cls.files["valid"])
        fresh_path = os.path.join(d, "fresh.txt")
        write_criteo_tsv(fresh_path, 300, seed=99)
        fresh = read_lines(fresh_path)
        rng = np.random.default_rng(0)
        origins = [("train", i) for i in rng.choice(len(train), 300, replace=False)]
        origins += [("valid", i) for i in rng.choice(len(valid), 200, replace=False)]
        origins += [("fresh", i) for i in range(len(fresh))]
        cls.origins = [origins[i] for i in rng.permutation(len(origins))]
        lines = {"train": train, "valid": valid, "fresh": fresh}
        cls.score_rows = [lines[o][i].split("\t") for o, i in cls.origins]
        cls.score = write_text(
            os.path.join(d, "score.txt"), ["\t".join(r) for r in cls.score_rows]
        )
        cls.out = os.path.join(d, "scored")
        cls.scored = cli(
            "criteo", cls.score, "--vocabulary_from", cls.source, "--output", cls.out
        )

    @classmethod
    def tearDownClass(cls) -> None:
        cls._tmp.cleanup()

    def test_vocabulary_files_are_saved(self) -> None:
        meta = self.meta
        files = meta.options["vocabulary_files"]
        self.assertEqual(
            files, {c: f"vocabulary/{c}.parquet" for c in CATEGORICAL_FIELDS}
        )
        train = [line.split("\t") for line in read_lines(self.files["train"])]
        for j, field in enumerate(CATEGORICAL_FIELDS):
            table = pq.read_table(os.path.join(self.source, files[field]))
            self.assertEqual(
                [(f.name, str(f.type)) for f in table.schema],
                [("value", "string"), ("id", "int32"), ("count", "int64")],
            )
            self.assertEqual(table.num_rows + 1, meta.vocab_sizes[field])
            values = [r[14 + j] for r in train]
            expected = vocabulary(values, min_count=2)
            self.assertEqual(
                dict(zip(column(table, "value"), column(table, "id"))), expected
            )
            counts = {v: values.count(v) for v in column(table, "value")[:5]}
            self.assertEqual(column(table, "count")[:5], list(counts.values()))

    def test_ids_of_known_rows_equal_the_source_dataset(self) -> None:
        source = {s: read_split(self.source, s).to_pylist() for s in ("train", "valid")}
        scored = read_split(self.out, "test").to_pylist()
        self.assertEqual(len(scored), len(self.origins))
        known = 0
        for row, (origin, i) in zip(scored, self.origins):
            if origin != "fresh":
                self.assertEqual(row, source[origin][i])  # label, numeric and ids alike
                known += 1
        self.assertEqual(known, 500)

    def test_unseen_values_get_id_zero_and_numbers_the_same_transform(self) -> None:
        train = [line.split("\t") for line in read_lines(self.files["train"])]
        scored = read_split(self.out, "test")
        zeros = 0
        for j, field in enumerate(CATEGORICAL_FIELDS):
            vocab = vocabulary([r[14 + j] for r in train], min_count=2)
            expected = [vocab.get(r[14 + j], 0) for r in self.score_rows]
            self.assertEqual(column(scored, field), expected, field)
            zeros += sum(
                1
                for r, (origin, _) in zip(self.score_rows, self.origins)
                if origin == "fresh" and r[14 + j] not in vocab
            )
        self.assertGreater(zeros, 1000)
        for j, field in enumerate(INTEGER_FIELDS):
            expected = [
                math.log1p(max(float(r[1 + j]), 0.0)) if r[1 + j] else 0.0
                for r in self.score_rows
            ]
            np.testing.assert_allclose(column(scored, field), expected, rtol=1e-6)
        self.assertEqual(column(scored, "label"), [int(r[0]) for r in self.score_rows])

    def test_metadata_matches_and_the_model_accepts_it(self) -> None:
        meta = DatasetMetadata.read(self.out)
        self.assertEqual(meta, self.scored.metadata)
        self.assertEqual(meta.numeric, self.meta.numeric)
        self.assertEqual(meta.categorical, self.meta.categorical)
        self.assertEqual(meta.vocab_sizes, self.meta.vocab_sizes)
        check_vocabulary(description(self.meta), meta)  # raises if they differ
        self.assertEqual(list(meta.splits), ["test"])
        self.assertEqual(meta.options["split"], {"kind": "given", "files": ["test"]})
        self.assertEqual(
            meta.options["vocabulary"]["vocabulary_from"], os.path.abspath(self.source)
        )
        self.assertEqual(meta.options["numeric_transform"], "log")
        self.assertEqual(meta.options["vocabulary"]["min_count"], 2)
        self.assertEqual(
            meta.options["vocabulary"]["fields"],
            self.meta.options["vocabulary"]["fields"],
        )
        # The output is a vocabulary source in its turn, with the same vocabularies.
        for field, rel in meta.options["vocabulary_files"].items():
            self.assertTrue(
                pq.read_table(os.path.join(self.out, rel)).equals(
                    pq.read_table(os.path.join(self.source, rel))
                )
            )

    def test_given_files_reproduce_the_source_splits(self) -> None:
        out = os.path.join(self.dir, "again")
        meta = cli(
            "criteo",
            "--split",
            "given",
            "--valid",
            self.files["valid"],
            "--test",
            self.files["test"],
            "--vocabulary_from",
            self.source,
            "--output",
            out,
        ).metadata
        self.assertEqual(sorted(meta.splits), ["test", "valid"])
        for split in ("valid", "test"):
            self.assertTrue(
                read_split(out, split).equals(read_split(self.source, split))
            )
        # Train rows re-encoded through the Python API give the train split.
        source = VocabularySource.load(self.source, "criteo")
        split = SplitOptions(
            kind="test", inputs=[self.files["train"]], train_optional=True
        )
        plan = source.apply(criteo_plan(split, source.common_options(CommonOptions())))
        prepare(plan, out)
        self.assertTrue(
            read_split(out, "test").equals(read_split(self.source, "train"))
        )

    def test_hashed_source(self) -> None:
        source = os.path.join(self.dir, "hashed")
        meta = cli(
            "criteo", self.files["train"], "--hash_size", "1000", "--output", source
        ).metadata
        self.assertNotIn("vocabulary_files", meta.options)
        self.assertFalse(os.path.exists(os.path.join(source, "vocabulary")))
        out = os.path.join(self.dir, "hashed_scored")
        scored = cli(
            "criteo",
            "--split",
            "random",
            self.files["train"],
            "--vocabulary_from",
            source,
            "--output",
            out,
        ).metadata
        for split in SPLITS:
            self.assertTrue(read_split(out, split).equals(read_split(source, split)))
        self.assertEqual(scored.vocab_sizes, meta.vocab_sizes)
        self.assertEqual(scored.options["vocabulary"]["hash_size"], 1000)
        with self.assertRaises(PreparationError) as ctx:
            cli(
                "criteo",
                self.score,
                "--vocabulary_from",
                source,
                "--min_count",
                "2",
                "--output",
                out,
            )
        self.assertEqual(
            str(ctx.exception),
            f"--min_count 2 conflicts with --vocabulary_from {source}, prepared with "
            f"--hash_size 1000; leave --min_count out (the dataset's is used)",
        )

    def assert_fails(self, message: str, *argv: str) -> None:
        out = os.path.join(self.dir, "failed")
        before = sorted(os.listdir(self.dir))
        with self.assertRaises(PreparationError) as ctx:
            cli(*argv, "--output", out)
        self.assertEqual(str(ctx.exception), message)
        self.assertEqual(sorted(os.listdir(self.dir)), before)  # nothing written

    def test_source_errors(self) -> None:
        score = self.score
        nowhere = os.path.join(self.dir, "nowhere")
        self.assert_fails(
            f"--vocabulary_from {nowhere}: no such directory",
            "criteo",
            score,
            "--vocabulary_from",
            nowhere,
        )
        self.assert_fails(
            f"--vocabulary_from {self.dir}: not a prepared dataset (no metadata.json)",
            "criteo",
            score,
            "--vocabulary_from",
            self.dir,
        )
        with tempfile.TemporaryDirectory() as d:
            broken = os.path.join(d, "broken")
            os.makedirs(broken)
            write_text(os.path.join(broken, "metadata.json"), ['{"format": "other"}'])
            self.assert_fails(
                f"--vocabulary_from {broken}: not a usable prepared dataset: "
                f"{broken}/metadata.json: not a torchrec_dlf prepared dataset (format='other')",
                "criteo",
                score,
                "--vocabulary_from",
                broken,
            )
            synthetic = os.path.join(d, "synthetic")
            write_indexed_dataset(synthetic, {"train": 10})
            no_vocabulary = (
                f"--vocabulary_from {synthetic}: has no saved vocabularies (its metadata lists "
                f"no vocabulary_files: prepared before they were saved, or not by "
                f"datasets/prepare.py); prepare its training data again"
            )
            self.assert_fails(
                no_vocabulary, "criteo", score, "--vocabulary_from", synthetic
            )
            # A dataset prepared before vocabularies were saved.
            old = os.path.join(d, "old")
            shutil.copytree(self.source, old)
            shutil.rmtree(os.path.join(old, "vocabulary"))
            self.assert_fails(
                f"--vocabulary_from {old}: the vocabulary file vocabulary/C1.parquet of field "
                f"C1 is missing",
                "criteo",
                score,
                "--vocabulary_from",
                old,
            )
            with open(os.path.join(old, "metadata.json")) as f:
                raw = json.load(f)
            del raw["options"]["vocabulary_files"]
            with open(os.path.join(old, "metadata.json"), "w") as f:
                json.dump(raw, f)
            self.assert_fails(
                no_vocabulary.replace(synthetic, old),
                "criteo",
                score,
                "--vocabulary_from",
                old,
            )

    def test_schema_and_option_errors(self) -> None:
        source, score = self.source, self.score
        avazu = write_text(
            os.path.join(self.dir, "avazu.csv"),
            [",".join(AVAZU_HEADER)] + [",".join(r) for r in avazu_rows(5)],
        )
        self.assert_fails(
            f"--vocabulary_from {source}: prepared from criteo data, not avazu data "
            f"(encode criteo files with `datasets/prepare.py criteo`)",
            "avazu",
            avazu,
            "--vocabulary_from",
            source,
        )
        self.assert_fails(
            f"--numeric bucket conflicts with --vocabulary_from {source}, prepared with "
            f"--numeric log; leave --numeric out (the dataset's is used)",
            "criteo",
            score,
            "--vocabulary_from",
            source,
            "--numeric",
            "bucket",
        )
        self.assert_fails(
            f"--min_count 3 conflicts with --vocabulary_from {source}, prepared with "
            f"--min_count 2; leave --min_count out (the dataset's is used)",
            "criteo",
            score,
            "--vocabulary_from",
            source,
            "--min_count",
            "3",
        )
        self.assert_fails(
            "split 'test' (every row to the test split) needs --vocabulary_from: without a "
            "train split there is nothing to build vocabularies on",
            "criteo",
            "--split",
            "test",
            score,
        )
        self.assert_fails(
            "--valid_from_train needs --train and no --valid",
            "criteo",
            "--split",
            "given",
            "--test",
            score,
            "--valid_from_train",
            "0.1",
            "--vocabulary_from",
            source,
        )
        with self.assertRaises(PreparationError) as ctx:
            cli("criteo", score, "--vocabulary_from", source, "--output", source)
        self.assertEqual(
            str(ctx.exception),
            f"{source}: the output is the dataset the vocabularies come from; refusing to "
            f"replace it",
        )
        self.assertEqual(DatasetMetadata.read(source), self.meta)
        # Same values as the source's are no conflict.
        out = os.path.join(self.dir, "same_options")
        cli(
            "criteo",
            score,
            "--vocabulary_from",
            source,
            "--min_count",
            "2",
            "--numeric",
            "log",
            "--output",
            out,
        )
        self.assertTrue(read_split(out, "test").equals(read_split(self.out, "test")))


class BarsVocabularyFromTest(unittest.TestCase):
    """Header order, bucket vocabularies and field checks with small BARS files."""

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        rows = [
            ["1", "a", "x", "5"],
            ["0", "b", "x", "30"],
            ["1", "a", "y", ""],
            ["0", "c", "x", "2"],
        ]
        self.train = write_text(
            os.path.join(self.dir, "train.csv"),
            ["label,u,v,n"] + [",".join(r) for r in rows],
        )
        self.source = os.path.join(self.dir, "source")
        self.meta = cli_all_train(
            "bars",
            self.train,
            "--numeric_columns",
            "n",
            "--numeric",
            "bucket",
            "--output",
            self.source,
        ).metadata
        self.out = os.path.join(self.dir, "out")

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def test_columns_in_another_order(self) -> None:
        self.assertEqual(self.meta.categorical, ["u", "v", "n"])
        score = write_text(
            os.path.join(self.dir, "score.csv"),
            ["n,v,label,u", "30,y,1,a", "1000,x,0,z", ",x,1,b"],
        )
        meta = cli(
            "bars", score, "--vocabulary_from", self.source, "--output", self.out
        ).metadata
        self.assertEqual(
            (meta.categorical, meta.vocab_sizes),
            (self.meta.categorical, self.meta.vocab_sizes),
        )
        table = read_split(self.out, "test")
        self.assertEqual(table.column_names, ["label", "u", "v", "n"])
        # train ids: u a=1 b=2 c=3; v x=1 y=2; n buckets 2 (from 5), 11 (30), "" , 2 (2) ->
        # "2"=1, ""=2, "11"=3 (ties by value); 1000 -> bucket 47, unseen.
        self.assertEqual(
            table.to_pylist(),
            [
                {"label": 1, "u": 1, "v": 2, "n": 3},
                {"label": 0, "u": 0, "v": 1, "n": 0},
                {"label": 1, "u": 2, "v": 1, "n": 2},
            ],
        )
        check_vocabulary(description(self.meta), meta)

    def test_fields_that_do_not_match(self) -> None:
        score = write_text(
            os.path.join(self.dir, "score.csv"), ["label,u,w,n", "1,a,x,3"]
        )
        with self.assertRaises(PreparationError) as ctx:
            cli("bars", score, "--vocabulary_from", self.source, "--output", self.out)
        self.assertEqual(
            str(ctx.exception),
            f"{score}: its fields do not match those of --vocabulary_from {self.source}: "
            f"missing ['v (categorical)'], unexpected ['w (categorical)']",
        )
        with self.assertRaises(PreparationError) as ctx:
            cli(
                "bars",
                score,
                "--vocabulary_from",
                self.source,
                "--numeric_columns",
                "n,u",
                "--output",
                self.out,
            )
        self.assertEqual(
            str(ctx.exception),
            f"--numeric_columns n,u conflicts with --vocabulary_from {self.source}, prepared "
            f"with --numeric_columns n; leave --numeric_columns out (the dataset's is used)",
        )
        no_label = write_text(
            os.path.join(self.dir, "no_label.csv"), ["u,v,n", "a,x,3"]
        )
        with self.assertRaises(PreparationError) as ctx:
            cli(
                "bars", no_label, "--vocabulary_from", self.source, "--output", self.out
            )
        self.assertEqual(
            str(ctx.exception), f"{no_label}: the header has no label column 'label'"
        )
        self.assertFalse(os.path.exists(self.out))


class OtherSourcesTest(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def test_avazu(self) -> None:
        rows = avazu_rows(300, seed=1)
        train = write_text(
            os.path.join(self.dir, "train.csv"),
            [",".join(AVAZU_HEADER)] + [",".join(r) for r in rows],
        )
        source = os.path.join(self.dir, "source")
        meta = cli_all_train("avazu", train, "--output", source).metadata
        out = os.path.join(self.dir, "out")
        scored = cli(
            "avazu", train, "--vocabulary_from", source, "--output", out
        ).metadata
        self.assertEqual(scored.categorical, meta.categorical)
        self.assertTrue(read_split(out, "test").equals(read_split(source, "train")))

    def test_csv_with_the_recorded_schema(self) -> None:
        schema = os.path.join(self.dir, "schema.json")
        with open(schema, "w") as f:
            json.dump(
                {
                    "separator": ";",
                    "label": "y",
                    "numeric": ["n", "m"],
                    "categorical": ["c"],
                    "numeric_transform": "log",
                    "transforms": {"m": "bucket"},
                },
                f,
            )
        lines = ["y;n;m;c", "1;3;10;a", "0;;2;b", "1;7;10;a"]
        train = write_text(os.path.join(self.dir, "train.csv"), lines)
        source = os.path.join(self.dir, "source")
        cli_all_train("csv", "--schema", schema, train, "--output", source)
        out = os.path.join(self.dir, "out")
        cli("csv", train, "--vocabulary_from", source, "--output", out)  # no --schema
        self.assertTrue(read_split(out, "test").equals(read_split(source, "train")))
        with open(schema, "w") as f:
            json.dump(
                {
                    "separator": ";",
                    "label": "y",
                    "numeric": ["n"],
                    "categorical": ["c", "m"],
                },
                f,
            )
        with self.assertRaises(PreparationError) as ctx:
            cli(
                "csv",
                "--schema",
                schema,
                train,
                "--vocabulary_from",
                source,
                "--output",
                out,
            )
        self.assertEqual(
            str(ctx.exception),
            f"--schema {schema} conflicts with --vocabulary_from {source}: numeric columns "
            f"(transforms) {{'n': 'log'}} here, {{'m': 'bucket', 'n': 'log'}} there; leave "
            f"--schema out (the recorded schema is used) or describe the same fields",
        )

    def test_libfm(self) -> None:
        sizes = [4, 6, 3]
        train = write_text(
            os.path.join(self.dir, "train.fm"),
            libsvm_rows(200, sizes, seed=1, absent=0.1),
        )
        test = write_text(
            os.path.join(self.dir, "test.fm"), libsvm_rows(50, sizes, seed=2)
        )
        source = os.path.join(self.dir, "source")
        cli(
            "libfm",
            "--train",
            train,
            "--test",
            test,
            "--valid_from_train",
            "0.2",
            "--field_ranges",
            ranges_of(sizes),
            "--output",
            source,
        )
        out = os.path.join(self.dir, "out")
        cli(
            "libfm",
            "--split",
            "given",
            "--test",
            test,
            "--vocabulary_from",
            source,
            "--output",
            out,
        )
        self.assertTrue(read_split(out, "test").equals(read_split(source, "test")))
        with self.assertRaises(PreparationError) as ctx:
            cli(
                "libfm",
                test,
                "--vocabulary_from",
                source,
                "--field_ranges",
                "1-10,11-13",
                "--output",
                out,
            )
        self.assertEqual(
            str(ctx.exception),
            f"--field_ranges 1-10,11-13 conflicts with --vocabulary_from {source}, prepared "
            f"with --field_ranges {ranges_of(sizes)}; leave --field_ranges out (the dataset's "
            f"is used)",
        )

    def test_libfm_feature_index(self) -> None:
        index = write_text(
            os.path.join(self.dir, "featindex.txt"),
            ["truncate\t0", "a:1\t1", "a:2\t2", "b:x\t3", "b:y\t4", "b:z\t5"],
        )
        lines = ["1 1:1 3:1", "0 2:1 4:1", "1 1:1 5:1", "0 1:1"]
        train = write_text(os.path.join(self.dir, "train.fm"), lines)
        test = write_text(os.path.join(self.dir, "test.fm"), ["1 2:1 5:1", "0 1:1 4:1"])
        source = os.path.join(self.dir, "source")
        cli(
            "libfm",
            "--train",
            train,
            "--test",
            test,
            "--valid_from_train",
            "0.3",
            "--feature_index",
            index,
            "--output",
            source,
        )
        out = os.path.join(self.dir, "out")
        cli(
            "libfm", test, "--vocabulary_from", source, "--output", out
        )  # the recorded map
        self.assertTrue(read_split(out, "test").equals(read_split(source, "test")))
        copy = os.path.join(self.dir, "copy.txt")
        shutil.copy(index, copy)
        os.remove(index)
        with self.assertRaises(PreparationError) as ctx:
            cli("libfm", test, "--vocabulary_from", source, "--output", out)
        self.assertEqual(
            str(ctx.exception),
            f"--vocabulary_from {source}: prepared with the feature-index map {index}, which "
            f"is gone; give its copy with --feature_index",
        )
        cli(
            "libfm",
            test,
            "--vocabulary_from",
            source,
            "--feature_index",
            copy,
            "--output",
            out,
        )
        self.assertTrue(read_split(out, "test").equals(read_split(source, "test")))
        with open(copy, "a") as f:
            f.write("b:w\t6\n")
        with self.assertRaises(PreparationError) as ctx:
            cli(
                "libfm",
                test,
                "--vocabulary_from",
                source,
                "--feature_index",
                copy,
                "--output",
                out,
            )
        self.assertEqual(
            str(ctx.exception),
            f"--feature_index {copy}: not the feature-index map --vocabulary_from {source} was "
            f"prepared with ({index}: another size or sha256)",
        )


class FrappeVocabularyFromTest(unittest.TestCase):
    def test_test_csv_encodes_like_the_test_split(self) -> None:
        files = {s: shared_data("frappe_x1", f"{s}.csv") for s in SPLITS}
        with tempfile.TemporaryDirectory() as d:
            source = os.path.join(d, "frappe_x1")
            meta = cli(
                "bars",
                "--train",
                files["train"],
                "--valid",
                files["valid"],
                "--test",
                files["test"],
                "--name",
                "frappe_x1",
                "--output",
                source,
            ).metadata
            out = os.path.join(d, "frappe_test")
            scored = cli(
                "bars", files["test"], "--vocabulary_from", source, "--output", out
            ).metadata
            self.assertEqual(scored.splits["test"].rows, 28860)
            self.assertTrue(read_split(out, "test").equals(read_split(source, "test")))
            check_vocabulary(description(meta), scored)


if __name__ == "__main__":
    unittest.main()
