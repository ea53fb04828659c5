import os
import tempfile
import unittest

import numpy as np

from tests.preprocessing.helpers import (
    column,
    libsvm_rows,
    ranges_of,
    read_split,
    vocabulary,
    write_text,
)
from tests.shared_data import shared_data
from torchrec_dlf.preprocessing.errors import BadRowError, PreparationError
from torchrec_dlf.preprocessing.options import CommonOptions, SplitOptions
from torchrec_dlf.preprocessing.preparation import prepare
from torchrec_dlf.preprocessing.preparation_result import PreparationResult
from torchrec_dlf.preprocessing.row_split import row_uniforms
from torchrec_dlf.preprocessing.sources.libfm import libfm_plan, parse_label_map

# The 16 one-hot fields of iPinYou 2997: token k of every row lies in range k (the index
# space has one contiguous block per field; featindex.txt does not describe it).
IPINYOU_RANGES = (
    "1-5,6-29,30-43,44-131279,131280-131313,131314-131681,131682,131683-132482,"
    "132483-133444,133445-133446,133447-133448,133449-133452,133453-133454,133455-133458,"
    "133459-133460,133461-133540"
)


def run(split: SplitOptions, out: str, **kwargs) -> PreparationResult:  # pyre-ignore[2]
    plan_keys = {"feature_index", "field_ranges", "numeric_fields", "label_map"}
    plan = libfm_plan(
        split,
        CommonOptions(**{k: v for k, v in kwargs.items() if k not in plan_keys}),
        **{k: v for k, v in kwargs.items() if k in plan_keys},
    )
    return prepare(plan, out)


class IPinYouTest(unittest.TestCase):
    """The real iPinYou advertiser 2997 libFM files, prepared once."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.train = shared_data("ipinyou_2997", "train.fm.txt")
        cls.test = shared_data("ipinyou_2997", "test.fm.txt")
        cls._tmp = tempfile.TemporaryDirectory()
        cls.out = os.path.join(cls._tmp.name, "ipinyou")
        split = SplitOptions(
            kind="given", train=cls.train, test=cls.test, valid_from_train=0.1, seed=0
        )
        cls.result = run(
            split, cls.out, field_ranges=IPINYOU_RANGES, name="ipinyou_2997"
        )

    @classmethod
    def tearDownClass(cls) -> None:
        cls._tmp.cleanup()

    def test_rows_and_clicks(self) -> None:
        s = self.result.metadata.splits
        self.assertEqual(s["train"].rows + s["valid"].rows, 26773)
        self.assertEqual(s["train"].positives + s["valid"].positives, 255)
        self.assertEqual((s["test"].rows, s["test"].positives), (21150, 50))
        self.assertAlmostEqual(s["valid"].rows / 26773, 0.1, delta=0.01)
        self.assertEqual(len(self.result.metadata.categorical), 16)
        self.assertEqual(self.result.metadata.source["bad_rows"], {})

    def test_rows_checked_against_the_text(self) -> None:
        with open(self.train) as f:
            train = [line.split() for line in f]
        with open(self.test) as f:
            test = [line.split() for line in f]
        # valid_from_train=0.1, seed 0: the rows that stayed in train build the vocabularies.
        in_train = row_uniforms(0, np.arange(len(train))) >= 0.1
        kept = [row for row, keep in zip(train, in_train) if keep]
        # Token k of every iPinYou row is field k (16 one-hot fields).
        vocabs = [
            vocabulary(row[k + 1].split(":")[0] for row in kept) for k in range(16)
        ]
        self.assertEqual(
            self.result.metadata.vocab_sizes,
            {f"C{k + 1}": len(vocabs[k]) + 1 for k in range(16)},
        )
        table = read_split(self.out, "test")
        for i in (0, 1, 5000, len(test) - 1):
            self.assertEqual(table.column("label")[i].as_py(), int(test[i][0]))
            for k in range(16):
                expected = vocabs[k].get(test[i][k + 1].split(":")[0], 0)
                self.assertEqual(table.column(f"C{k + 1}")[i].as_py(), expected, (i, k))

    def test_feature_index_map_does_not_describe_the_data(self) -> None:
        with self.assertRaisesRegex(
            PreparationError,
            r"featindex.txt:43: index '42.*' is not a non-negative integer",
        ):
            run(
                SplitOptions(
                    kind="given", train=self.train, test=self.test, valid_from_train=0.1
                ),
                os.path.join(self._tmp.name, "x"),
                feature_index=shared_data("ipinyou_2997", "featindex.txt"),
            )


class LibSVMTest(unittest.TestCase):
    SIZES = [3, 5, 2, 7]

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.out = os.path.join(self.dir, "out")

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def given(self, train: str, test: str) -> SplitOptions:
        return SplitOptions(
            kind="given", train=train, test=test, valid_from_train=0.2, seed=3
        )

    def test_ranges_label_map_and_absent_fields(self) -> None:
        train_lines = libsvm_rows(
            400, self.SIZES, seed=1, labels=("-1", "+1"), absent=0.1
        )
        test_lines = libsvm_rows(
            100, self.SIZES, seed=2, labels=("-1", "+1"), absent=0.1
        )
        train = write_text(os.path.join(self.dir, "train.svm"), train_lines)
        test = write_text(
            os.path.join(self.dir, "test.svm"),
            test_lines,
            eol="\r\n",
            final_newline=False,
        )
        result = run(
            self.given(train, test),
            self.out,
            field_ranges=ranges_of(self.SIZES),
            label_map=parse_label_map("-1:0,+1:1"),
        )
        meta = result.metadata
        self.assertEqual(meta.categorical, ["C1", "C2", "C3", "C4"])
        self.assertEqual(meta.splits["test"].rows, 100)
        self.assertEqual(
            meta.splits["test"].positives,
            sum(line.startswith("+1") for line in test_lines),
        )
        # Expected ids of the test rows from a reference vocabulary of the train rows.
        in_train = row_uniforms(3, np.arange(400)) >= 0.2
        starts = np.concatenate([[1], 1 + np.cumsum(self.SIZES)[:-1]])

        def field_values(line: str):  # pyre-ignore[3]
            values = [None] * len(self.SIZES)
            for token in line.split()[1:]:
                index = int(token.split(":")[0])
                values[int(np.searchsorted(starts, index, side="right")) - 1] = str(
                    index
                )
            return values

        train_values = [
            field_values(line) for line, keep in zip(train_lines, in_train) if keep
        ]
        table = read_split(self.out, "test")
        for j in range(len(self.SIZES)):
            vocab = vocabulary(v[j] for v in train_values if v[j] is not None)
            self.assertEqual(meta.vocab_sizes[f"C{j + 1}"], len(vocab) + 1)
            expected = [
                0 if v[j] is None else vocab.get(v[j], 0)
                for v in map(field_values, test_lines)
            ]
            self.assertEqual(column(table, f"C{j + 1}"), expected)

    def test_bad_rows(self) -> None:
        train = os.path.join(self.dir, "train.svm")
        test = write_text(os.path.join(self.dir, "test.svm"), ["1 1:1", "0 4:1"])
        cases = [
            ("1 1:1 2:1", "given twice (indices 1 and 2) ({where}, field C1)"),
            ("1 1:1 99:1", "token 2: feature index 99 belongs to no field ({where})"),
            (
                "1 1:1 4:2",
                "feature 4 has value '2', a one-hot feature needs 1 ({where}, field C2)",
            ),
            ("-1 1:1", "'-1' is not a label (expected 0, 1) ({where}, field label)"),
            ("1 1:1 4=1", "token 2: '4=1' is not index:value ({where})"),
            ("", "empty line ({where})"),
        ]
        for line, message in cases:
            write_text(train, ["0 1:1 4:1", line, "1 2:1"])
            with self.assertRaises(BadRowError) as ctx:
                run(
                    self.given(train, test),
                    self.out,
                    field_ranges=ranges_of(self.SIZES),
                )
            self.assertEqual(str(ctx.exception), message.format(where=f"{train}:2"))
        good = ["0 1:1 4:1", "1 2:1", "0 3:1 5:1", "1 1:1 6:1"] * 5
        write_text(train, ["0 1:1 4:1", "1 1:1 2:1", "x 1:1", "", "1 2:1"] + good)
        result = run(
            self.given(train, test),
            self.out,
            field_ranges=ranges_of(self.SIZES),
            on_bad_row="skip",
        )
        self.assertEqual(
            result.bad_rows.counts_by_reason(),
            {"bad label": 1, "empty line": 1, "field given twice": 1},
        )
        self.assertEqual(
            result.metadata.splits["train"].rows + result.metadata.splits["valid"].rows,
            22,
        )

    def test_options(self) -> None:
        train = write_text(os.path.join(self.dir, "train.svm"), ["1 1:1"])
        with self.assertRaisesRegex(
            PreparationError, "either --feature_index or --field_ranges"
        ):
            run(self.given(train, train), self.out)
        with self.assertRaisesRegex(PreparationError, "label map must look like"):
            parse_label_map("-1=0")
        with self.assertRaisesRegex(
            PreparationError, "either --valid or --valid_from_train"
        ):
            run(
                SplitOptions(kind="given", train=train, test=train),
                self.out,
                field_ranges="1-3",
            )
