"""Multi-valued fields prepared from raw files: CSV cells with a delimiter, libFM bags."""

import json
import os
import random
import tempfile
import unittest

import pytest

from tests.preprocessing.helpers import read_split, write_text
from tests.scripts import tiny_dlf_flags, torchrun
from torchrec_dlf.data.metadata import BagInfo, DatasetMetadata
from torchrec_dlf.preprocessing.cli import run
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.sources.table_schema import TableSchema

SCHEMA = {
    "label": "label",
    "numeric": ["x"],
    "categorical": ["c", "tags"],
    "bags": {"tags": {"delimiter": "|", "max_length": 3, "pooling": "mean"}},
}
TRAIN = [
    "label,x,c,tags",
    "1,0.5,a,red|blue",
    "0,1,b,",
    "1,2,a,red|green|blue|red|pink",
    "0,3,b,rare",
    "1,4,a,blue",
    "0,5,a,red|blue",
]


class CsvBagTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def _prepare(self, schema: dict, train: list, *flags: str) -> None:
        path = os.path.join(self.dir, "s.json")
        with open(path, "w") as f:
            json.dump(schema, f)
        write_text(os.path.join(self.dir, "t.csv"), train)
        write_text(os.path.join(self.dir, "v.csv"), ["label,x,c,tags", "1,0,a,red"])
        write_text(
            os.path.join(self.dir, "e.csv"), ["label,x,c,tags", "0,0,b,blue|zzz"]
        )
        run(
            ["csv", "--schema", path, "--split", "given"]
            + ["--train", os.path.join(self.dir, "t.csv")]
            + ["--valid", os.path.join(self.dir, "v.csv")]
            + ["--test", os.path.join(self.dir, "e.csv")]
            + ["--output", os.path.join(self.dir, "out"), "--checksum", "none"]
            + ["--quiet"]
            + list(flags),
            out=lambda line: None,
        )

    def test_list_column_and_bag_info(self) -> None:
        self._prepare(SCHEMA, TRAIN, "--min_count", "2")
        out = os.path.join(self.dir, "out")
        train = read_split(out, "train").to_pydict()
        # red and blue are counted 4 times (the cut bag counts whole), ties by
        # value: blue 1, red 2; green, pink, rare are under min_count -> 0.
        self.assertEqual(train["tags"], [[2, 1], [], [2, 0, 1], [0], [1], [2, 1]])
        self.assertEqual(train["c"], [1, 2, 1, 2, 1, 1])
        self.assertEqual(read_split(out, "test").to_pydict()["tags"], [[1, 0]])
        meta = DatasetMetadata.read(out)
        self.assertEqual(
            meta.multi_hot, {"tags": BagInfo(3, 9 / 6, pooling="mean", weights=None)}
        )
        bags = meta.options["bags"]["tags"]
        self.assertEqual((bags["truncated_bags"], bags["dropped_values"]), (1, 2))
        self.assertEqual(meta.vocab_sizes["tags"], 3)

    def test_long_bag_without_truncation_is_a_bad_row(self) -> None:
        schema = json.loads(json.dumps(SCHEMA))
        schema["bags"]["tags"]["truncate"] = False
        with self.assertRaisesRegex(
            PreparationError,
            r"longer than max_length 3 .*t\.csv:4, field tags\)",
        ):
            self._prepare(schema, TRAIN)
        # Skipped and counted when asked.
        self._prepare(schema, TRAIN, "--on_bad_row", "skip")
        meta = DatasetMetadata.read(os.path.join(self.dir, "out"))
        self.assertEqual(meta.source["bad_rows"], {"bag longer than max_length": 1})

    def test_empty_value_inside_a_bag_is_a_bad_row(self) -> None:
        with self.assertRaisesRegex(PreparationError, r"t\.csv:3, field tags"):
            self._prepare(SCHEMA, TRAIN[:2] + ["0,1,b,red||blue"] + TRAIN[3:])

    def test_schema_checks(self) -> None:
        for bags, message in [
            ({"x": {"delimiter": "|"}}, "not a categorical column"),
            ({"tags": {"delimiter": ","}}, "other than the separator"),
            ({"tags": {"delimiter": "|", "max_length": 0}}, "max_length"),
            ({"tags": {"delimiter": "|", "pooling": "max"}}, "pooling"),
            ({"tags": {"delimiter": "|", "size": 2}}, "unknown keys"),
        ]:
            with self.assertRaisesRegex(PreparationError, message):
                TableSchema.from_dict({**SCHEMA, "bags": bags})
        schema = TableSchema.from_dict(SCHEMA)
        self.assertEqual(TableSchema.from_dict(schema.to_dict()).bags, schema.bags)


class LibFMBagTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def _prepare(self, lines: list, *flags: str) -> str:
        train = write_text(os.path.join(self.dir, "tr.fm"), lines)
        test = write_text(os.path.join(self.dir, "te.fm"), ["1 1:1 3:1", "0 2:1"])
        out = os.path.join(self.dir, "out")
        run(
            ["libfm", "--train", train, "--test", test, "--valid_from_train", "0.5"]
            + ["--field_ranges", "u=1-2,item=3-9", "--multi_hot_fields", "item"]
            + ["--output", out, "--checksum", "none", "--seed", "1"]
            + ["--quiet"]
            + list(flags),
            out=lambda line: None,
        )
        return out

    def test_repeated_field_is_a_bag(self) -> None:
        lines = ["1 1:1 3:1 4:1", "0 2:1", "1 1:1 4:1 5:1 6:1", "0 2:1 3:1"] * 2
        out = self._prepare(lines)
        meta = DatasetMetadata.read(out)
        rows = {s: read_split(out, s).to_pydict() for s in ("train", "valid", "test")}
        self.assertEqual(meta.multi_hot["item"].weights, None)
        self.assertEqual(meta.multi_hot["item"].max_length, 3)
        every = [b for r in rows.values() for b in r["item"]]
        self.assertIn([], every)  # rows without the field: empty bags
        self.assertTrue(any(len(b) == 3 for b in every))
        ids = sum(len(b) for b in rows["train"]["item"])
        self.assertAlmostEqual(
            meta.multi_hot["item"].mean_length, ids / meta.splits["train"].rows
        )

    def test_values_become_weights(self) -> None:
        lines = ["1 1:1 3:0.5 4:2", "0 2:1", "1 1:1 3:0.5 4:2", "0 2:1"]
        out = self._prepare(lines, "--weighted_fields", "item")
        meta = DatasetMetadata.read(out)
        self.assertEqual(meta.multi_hot["item"].weights, "item_weights")
        table = read_split(out, "test").to_pydict()
        self.assertEqual(table["item_weights"], [[1.0], []])
        train = read_split(out, "train").to_pydict()
        for bag, weights in zip(train["item"], train["item_weights"]):
            self.assertEqual(len(bag), len(weights))
        self.assertIn(
            [0.5, 2.0],
            train["item_weights"]
            + read_split(out, "valid").to_pydict()["item_weights"],
        )

    def test_unweighted_value_other_than_one_is_an_error(self) -> None:
        with self.assertRaisesRegex(
            PreparationError, r"needs 1 \(.*tr\.fm:1, field item\)"
        ):
            self._prepare(["1 1:1 3:0.5", "0 2:1"])


@pytest.mark.e2e
class PreparedBagTrainingTest(unittest.TestCase):
    def test_dlf_and_dcnv2_train_on_a_prepared_csv_on_two_ranks(self) -> None:
        rng = random.Random(0)
        tags = [f"t{i}" for i in range(30)]

        def rows(n: int) -> list:
            return ["label,x,c,tags"] + [
                f"{int(rng.random() < 0.3)},{rng.random():.3f},c{rng.randrange(10)},"
                + "|".join(rng.choice(tags) for _ in range(rng.randrange(6)))
                for _ in range(n)
            ]

        with tempfile.TemporaryDirectory() as tmp:
            schema = os.path.join(tmp, "s.json")
            with open(schema, "w") as f:
                json.dump(SCHEMA, f)
            files = []
            for split, n in (("train", 1500), ("valid", 300), ("test", 300)):
                files += [f"--{split}", write_text(os.path.join(tmp, split), rows(n))]
            data, runs = os.path.join(tmp, "data"), os.path.join(tmp, "runs")
            run(
                ["csv", "--schema", schema, "--split", "given", *files]
                + ["--output", data, "--checksum", "none", "--quiet"],
                out=lambda line: None,
            )
            for interaction in ("dlf", "dcnv2"):
                done = torchrun(
                    2,
                    ["launch/train.py", *tiny_dlf_flags(batch_size=128)]
                    + ["--interaction_type", interaction, "--dataset_dir", data]
                    + ["--output_dir", runs, "--run_name", interaction]
                    + ["--tensorboard", "off"],
                )
                self.assertEqual(done.returncode, 0, done.stderr[-3000:])
                with open(os.path.join(runs, interaction, "metrics.json")) as f:
                    metrics = json.load(f)
                self.assertGreater(metrics["test"]["auc"], 0.0)


if __name__ == "__main__":
    unittest.main()
