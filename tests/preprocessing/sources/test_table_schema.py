import math
import os
import tempfile
import unittest
from typing import List

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.preprocessing.helpers import column, read_split, vocabulary, write_text
from tests.scripts import ROOT
from tests.shared_data import shared_data
from torchrec_dlf.preprocessing.errors import BadRowError, PreparationError
from torchrec_dlf.preprocessing.options import CommonOptions, SplitOptions
from torchrec_dlf.preprocessing.preparation import prepare
from torchrec_dlf.preprocessing.preparation_result import PreparationResult
from torchrec_dlf.preprocessing.sources.csv import csv_plan
from torchrec_dlf.preprocessing.sources.table_schema import TableSchema

CRITEO_SAMPLE_SCHEMA = os.path.join(ROOT, "datasets", "schemas", "criteo_sample.json")
ALL_TRAIN = (1.0, 0.0, 0.0)


def run(
    schema: TableSchema, inputs: List[str], out: str, **options
) -> PreparationResult:  # pyre-ignore[2]
    split = SplitOptions(inputs=inputs, ratios=options.pop("ratios", ALL_TRAIN))
    return prepare(csv_plan(schema, split, CommonOptions(**options)), out)


class CriteoSampleTest(unittest.TestCase):
    def test_real_sample_with_the_shipped_schema(self) -> None:
        path = shared_data("samples", "criteo_sample.txt")
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "sample")
            meta = run(TableSchema.load(CRITEO_SAMPLE_SCHEMA), [path], out).metadata
            self.assertEqual(
                (meta.splits["train"].rows, meta.splits["train"].positives), (200, 49)
            )
            self.assertEqual(meta.name, "criteo_sample")
            self.assertEqual(meta.source["schema"]["path"], CRITEO_SAMPLE_SCHEMA)
            table = read_split(out, "train")
            # Line 2 by hand: "0,,3,260.0,,17668.0,,,33.0,,,,0.0,,05db9164,08d6d899,..."
            self.assertEqual(column(table.slice(0, 1), "label"), [0])
            first = {
                f"I{j}": table.column(f"I{j}")[0].as_py() for j in (1, 2, 3, 5, 12)
            }
            expected = {
                "I1": 0.0,
                "I2": math.log(4),
                "I3": math.log(261),
                "I5": math.log(17669),
                "I12": 0.0,
            }
            for k, v in expected.items():
                self.assertAlmostEqual(first[k], v, places=5)
            with open(path) as f:
                rows = [line.rstrip("\n").split(",") for line in f][1:]
            c1 = vocabulary(r[14] for r in rows)
            self.assertEqual(column(table, "C1"), [c1[r[14]] for r in rows])
            self.assertEqual(table.column("C1")[0].as_py(), c1["05db9164"])
            c26 = vocabulary(r[39] for r in rows)
            self.assertEqual(
                table.column("C26")[0].as_py(), c26[""]
            )  # empty is a value of its own


class TableSchemaTest(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.out = os.path.join(self.dir, "out")

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def schema(self, **raw) -> TableSchema:  # pyre-ignore[2]
        base = {"label": "y", "numeric": ["n"], "categorical": ["c"]}
        base.update(raw)
        return TableSchema.from_dict(base)

    def test_to_dict_round_trip(self) -> None:
        for raw in [
            {},
            {"header": ["id", "y", "n", "c"], "drop": ["id"], "separator": "\t"},
            {"label_map": {"-1": 0, "1": 1}, "numeric_transform": "log", "name": "x"},
            {"header": False, "transforms": {"n": "bucket"}},
        ]:
            schema = self.schema(**raw)
            again = TableSchema.from_dict(schema.to_dict())
            self.assertEqual(again, schema)
            self.assertEqual(again.to_dict(), schema.to_dict())

    def test_schema_errors(self) -> None:
        cases = [
            ({"colour": 1}, "schema: unknown keys ['colour']"),
            ({"categorical": []}, "schema: at least one categorical column is needed"),
            ({"numeric": ["c"]}, "schema: columns ['c'] are named more than once"),
            (
                {"separator": ";;"},
                "schema: 'separator' must be one character, got ';;'",
            ),
            (
                {"numeric_transform": "sqrt"},
                "schema: 'numeric_transform' must be one of",
            ),
            (
                {"transforms": {"c": "log"}},
                "schema: 'transforms' names 'c', which is not a numeric column",
            ),
            (
                {"header": ["y", "n"]},
                "schema: 'header' lists [] without a role and misses ['c']",
            ),
            ({"header": False, "drop": ["z"]}, "schema: 'drop' needs the column order"),
            ({"label_map": {"a": 2}}, "schema: 'label_map' maps raw labels"),
        ]
        for raw, message in cases:
            with self.assertRaises(PreparationError) as ctx:
                self.schema(**raw)
            self.assertTrue(
                str(ctx.exception).startswith(message), (raw, str(ctx.exception))
            )
        bad_json = write_text(os.path.join(self.dir, "s.json"), ["{"])
        with self.assertRaisesRegex(PreparationError, "s.json: not valid JSON"):
            TableSchema.load(bad_json)

    def test_header_must_match_the_schema(self) -> None:
        path = write_text(os.path.join(self.dir, "d.csv"), ["y,n,c,extra", "1,2,a,b"])
        with self.assertRaises(PreparationError) as ctx:
            run(self.schema(), [path], self.out)
        self.assertEqual(
            str(ctx.exception),
            f"{path}: the header does not match the schema: unexpected ['extra']",
        )
        write_text(path, ["y,c", "1,a"])
        with self.assertRaises(PreparationError) as ctx:
            run(self.schema(), [path], self.out)
        self.assertEqual(
            str(ctx.exception),
            f"{path}: the header does not match the schema: missing ['n']",
        )
        write_text(path, ["y\tn\tc", "1\t2\ta"])
        with self.assertRaisesRegex(
            PreparationError, r"missing \['y', 'n', 'c'\], unexpected \['y\\tn\\tc'\]"
        ):
            run(self.schema(), [path], self.out)

    def test_headerless_tsv_with_drop_and_transforms(self) -> None:
        path = write_text(
            os.path.join(self.dir, "d.tsv"),
            ["x\t1\t5\ta", "y\t0\t\tb", "z\t1\t-2\ta"],
            eol="\r\n",
        )
        schema = self.schema(
            header=["id", "y", "n", "c"],
            drop=["id"],
            separator="\t",
            transforms={"n": "log"},
        )
        meta = run(schema, [path], self.out).metadata
        table = read_split(self.out, "train")
        np.testing.assert_allclose(column(table, "n"), [math.log(6), 0, 0], rtol=1e-6)
        self.assertEqual(column(table, "c"), [1, 2, 1])
        self.assertEqual(meta.options["drop"], ["id"])
        self.assertEqual(meta.options["fields"]["n"]["transform"], "log")
        write_text(path, ["1,5,a"])
        meta = run(
            self.schema(header=False), [path], self.out, numeric="bucket"
        ).metadata
        self.assertEqual((meta.numeric, meta.categorical), ([], ["n", "c"]))

    def test_bad_number_and_wrong_field_count(self) -> None:
        path = write_text(
            os.path.join(self.dir, "d.csv"), ["y,n,c", "1,2,a", "0,2;5,b", "1,3"]
        )
        with self.assertRaises(BadRowError) as ctx:
            run(self.schema(), [path], self.out)
        self.assertEqual(
            str(ctx.exception), f"'2;5' is not a number ({path}:3, field n)"
        )
        result = run(self.schema(), [path], self.out, on_bad_row="skip")
        self.assertEqual(
            result.bad_rows.counts_by_reason(),
            {"not a number": 1, "wrong number of fields": 1},
        )

    @settings(max_examples=25, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["0", "1"]),
                st.one_of(st.just(""), st.floats(-1e6, 1e6, allow_nan=False).map(repr)),
                st.text(
                    # NUL is a bad value and '"' opens a quoted one (both in the corpus).
                    st.characters(
                        blacklist_characters=',;\r\n"\x00', blacklist_categories=("Cs",)
                    ),
                    max_size=6,
                ),
            ),
            min_size=1,
            max_size=40,
        ),
        st.sampled_from(["\n", "\r\n"]),
        st.booleans(),
        st.integers(0, 100),
    )
    def test_random_rows_round_trip_and_corruption(
        self, rows, eol, final_newline, corrupt
    ) -> None:  # pyre-ignore[2]
        path = os.path.join(self.dir, "r.csv")
        lines = [",".join(r) for r in rows]
        write_text(path, ["y,n,c"] + lines, eol=eol, final_newline=final_newline)
        run(self.schema(), [path], self.out)
        table = read_split(self.out, "train")
        vocab = vocabulary(r[2] for r in rows)
        self.assertEqual(column(table, "label"), [int(r[0]) for r in rows])
        np.testing.assert_allclose(
            column(table, "n"),
            np.array([float(r[1]) if r[1] else 0.0 for r in rows], np.float32),
        )
        self.assertEqual(column(table, "c"), [vocab[r[2]] for r in rows])
        # Corrupt one row: the error names its line and field.
        bad = corrupt % len(rows)
        lines[bad] = f"{rows[bad][0]},1x,{rows[bad][2]}"
        write_text(path, ["y,n,c"] + lines, eol=eol, final_newline=final_newline)
        with self.assertRaises(BadRowError) as ctx:
            run(self.schema(), [path], self.out)
        self.assertEqual(
            str(ctx.exception), f"'1x' is not a number ({path}:{bad + 2}, field n)"
        )
