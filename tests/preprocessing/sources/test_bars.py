import os
import tempfile
import unittest

from tests.preprocessing.helpers import (
    column,
    read_split,
    vocabulary,
    write_bytes,
    write_text,
)
from tests.shared_data import shared_data
from torchrec_dlf.preprocessing.errors import BadRowError, PreparationError
from torchrec_dlf.preprocessing.options import CommonOptions, SplitOptions
from torchrec_dlf.preprocessing.preparation import prepare
from torchrec_dlf.preprocessing.preparation_result import PreparationResult
from torchrec_dlf.preprocessing.sources.bars import bars_plan

FRAPPE_FIELDS = [
    "user",
    "item",
    "daytime",
    "weekday",
    "isweekend",
    "homework",
    "cost",
    "weather",
    "country",
    "city",
]


def run(
    files, out, numeric_columns=(), **options
) -> PreparationResult:  # pyre-ignore[2]
    split = SplitOptions(kind="given", **files)
    return prepare(bars_plan(split, CommonOptions(**options), numeric_columns), out)


def csv_lines(path: str):  # pyre-ignore[3]
    with open(path, newline="") as f:
        return [line.rstrip("\r\n").split(",") for line in f]


class FrappeTest(unittest.TestCase):
    """The real BARS Frappe_x1 splits, prepared once."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.files = {
            s: shared_data("frappe_x1", f"{s}.csv") for s in ("train", "valid", "test")
        }
        cls._tmp = tempfile.TemporaryDirectory()
        cls.out = os.path.join(cls._tmp.name, "frappe_x1")
        cls.result = run(cls.files, cls.out, name="frappe_x1")

    @classmethod
    def tearDownClass(cls) -> None:
        cls._tmp.cleanup()

    def test_rows_labels_and_vocabularies(self) -> None:
        meta = self.result.metadata
        self.assertEqual(
            {k: (v.rows, v.positives) for k, v in meta.splits.items()},
            {"train": (202027, 67604), "valid": (57722, 19063), "test": (28860, 9536)},
        )
        self.assertEqual(meta.numeric, [])
        self.assertEqual(meta.categorical, FRAPPE_FIELDS)
        self.assertEqual(
            meta.vocab_sizes,
            {
                "user": 955,
                "item": 4083,
                "daytime": 8,
                "weekday": 8,
                "isweekend": 3,
                "homework": 4,
                "cost": 3,
                "weather": 10,
                "country": 81,
                "city": 234,
            },
        )
        self.assertEqual(meta.source["bad_rows"], {})
        self.assertEqual(
            [f["lines"] for f in meta.source["files"]], [202027, 57722, 28860]
        )

    def test_rows_checked_against_the_csv_text(self) -> None:
        train = csv_lines(self.files["train"])
        self.assertEqual(train[0], ["label"] + FRAPPE_FIELDS)
        vocabs = {
            f: vocabulary(r[j + 1] for r in train[1:])
            for j, f in enumerate(FRAPPE_FIELDS)
        }
        for split in ("train", "valid", "test"):
            lines = train if split == "train" else csv_lines(self.files[split])
            table = read_split(self.out, split)
            for row in (0, 1, 1234, len(lines) - 2):  # data row i is line i + 2
                raw = lines[row + 1]
                self.assertEqual(column(table.slice(row, 1), "label"), [int(raw[0])])
                for j, f in enumerate(FRAPPE_FIELDS):
                    self.assertEqual(
                        table.column(f)[row].as_py(),
                        vocabs[f].get(raw[j + 1], 0),
                        (split, row, f),
                    )
        # By hand: valid line 2 is "1,266,1244,5042,...": its user 266 is a train value.
        self.assertEqual(
            read_split(self.out, "valid").column("user")[0].as_py(),
            vocabs["user"]["266"],
        )

    def test_unseen_values_get_id_zero(self) -> None:
        train_users = {r[1] for r in csv_lines(self.files["train"])[1:]}
        valid = csv_lines(self.files["valid"])[1:]
        unseen = [i for i, r in enumerate(valid) if r[1] not in train_users]
        users = column(read_split(self.out, "valid"), "user")
        self.assertEqual([users[i] for i in unseen], [0] * len(unseen))
        self.assertTrue(all(u > 0 for i, u in enumerate(users) if i not in set(unseen)))


class BarsTest(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.out = os.path.join(self.dir, "out")
        self.files = {}
        for split, rows in [
            ("train", ["1,a,5", "0,b,", "1,a,30"]),
            ("valid", ["0,c,2.5"]),
            ("test", ["1,b,-1"]),
        ]:
            self.files[split] = write_text(
                os.path.join(self.dir, f"{split}.csv"), ["label,f,n"] + rows, eol="\r\n"
            )

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def test_numeric_columns_and_bucket(self) -> None:
        meta = run(self.files, self.out, numeric_columns=["n"]).metadata
        self.assertEqual((meta.numeric, meta.categorical), (["n"], ["f"]))
        self.assertEqual(column(read_split(self.out, "train"), "n"), [5.0, 0.0, 30.0])
        self.assertEqual(column(read_split(self.out, "train"), "f"), [1, 2, 1])
        self.assertEqual(column(read_split(self.out, "valid"), "f"), [0])
        meta = run(
            self.files, self.out, numeric_columns=["n"], numeric="bucket"
        ).metadata
        self.assertEqual((meta.numeric, meta.categorical), ([], ["f", "n"]))
        # train buckets: 5 -> "2", "" -> "", 30 -> "11"; ids by count then value: "" < "11" < "2".
        self.assertEqual(column(read_split(self.out, "train"), "n"), [3, 1, 2])
        self.assertEqual(meta.vocab_sizes["n"], 4)
        self.assertEqual(
            meta.options["fields"]["n"],
            {"kind": "categorical", "column": "n", "transform": "bucket"},
        )

    def test_header_differs_between_files(self) -> None:
        write_text(self.files["test"], ["label,n,f", "1,2,a"])
        with self.assertRaises(PreparationError) as ctx:
            run(self.files, self.out)
        self.assertEqual(
            str(ctx.exception),
            f"{self.files['test']}: the header differs from {self.files['train']}'s: columns in another "
            f"order: expected ['label', 'f', 'n'], found ['label', 'n', 'f']",
        )
        write_text(self.files["test"], ["label,f", "1,a"])
        with self.assertRaisesRegex(
            PreparationError, r"header differs .*: missing \['n'\]"
        ):
            run(self.files, self.out)

    def test_no_label_or_unknown_numeric_column(self) -> None:
        with self.assertRaisesRegex(
            PreparationError, "the header has no label column 'click'"
        ):
            prepare(
                bars_plan(
                    SplitOptions(kind="given", **self.files),
                    CommonOptions(),
                    label="click",
                ),
                self.out,
            )
        with self.assertRaisesRegex(
            PreparationError, r"numeric columns \['x'\] are not feature columns"
        ):
            run(self.files, self.out, numeric_columns=["x"])

    def test_bad_rows_in_valid_leave_nothing_behind(self) -> None:
        write_bytes(self.files["valid"], b"label,f,n\r\n0,c,1\r\n1,\xe9,2\r\n")
        with self.assertRaises(BadRowError) as ctx:
            run(self.files, self.out)
        self.assertEqual(
            str(ctx.exception),
            f"invalid UTF-8 in '\\\\xe9' ({self.files['valid']}:3, field f)",
        )
        self.assertEqual(
            sorted(os.listdir(self.dir)), ["test.csv", "train.csv", "valid.csv"]
        )

    def test_wrong_field_count_and_empty_line_skipped(self) -> None:
        write_text(
            self.files["train"],
            ["label,f,n", "1,a,5", "1,a", "", "0,b,1,2", "0,a,3"],
            eol="\r\n",
        )
        result = run(self.files, self.out, on_bad_row="skip")
        self.assertEqual(
            result.bad_rows.counts_by_reason(),
            {"empty line": 1, "wrong number of fields": 2},
        )
        self.assertEqual(
            [r.message() for r in result.bad_rows.examples],
            [
                f"expected 3 fields, found 2 ({self.files['train']}:3)",
                f"empty line ({self.files['train']}:4)",
                f"expected 3 fields, found 4 ({self.files['train']}:5)",
            ],
        )
        self.assertEqual(result.metadata.splits["train"].rows, 2)
