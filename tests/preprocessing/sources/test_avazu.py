import os
import tempfile
import unittest

import pyarrow as pa

from tests.preprocessing.helpers import (
    AVAZU_HEADER,
    avazu_rows,
    column,
    read_split,
    vocabulary,
    write_text,
)
from tests.shared_data import shared_data
from torchrec_dlf.preprocessing.errors import BadRowError, PreparationError
from torchrec_dlf.preprocessing.options import CommonOptions, SplitOptions
from torchrec_dlf.preprocessing.preparation import prepare
from torchrec_dlf.preprocessing.preparation_result import PreparationResult
from torchrec_dlf.preprocessing.sources.avazu import AvazuHourParser, avazu_plan


def run(
    split: SplitOptions, out: str, **options
) -> PreparationResult:  # pyre-ignore[2]
    return prepare(avazu_plan(split, CommonOptions(**options)), out)


class AvazuHourParserTest(unittest.TestCase):
    def test_hour_weekday_weekend(self) -> None:
        out = AvazuHourParser().parse(pa.array([b"14102100", b"14102523", b"14102607"]))
        self.assertEqual(out["hour"].to_pylist(), ["00", "23", "07"])
        # 2014-10-21 was a Tuesday; the 25th and 26th a Saturday and a Sunday.
        self.assertEqual(out["weekday"].to_pylist(), ["1", "5", "6"])
        self.assertEqual(out["weekend"].to_pylist(), ["0", "1", "1"])

    def test_bad_hours(self) -> None:
        p = AvazuHourParser()
        for value in [
            b"1410210",
            b"141021000",
            b"1410210a",
            b"14022900",
            b"14102124",
            b"14130100",
            b"",
        ]:
            self.assertIsNone(p.parse(pa.array([b"14102100", value])), value)
            self.assertEqual(
                p.problem(value),
                ("bad hour", f"{value.decode()!r} is not an hour YYMMDDHH"),
            )
        self.assertIsNone(p.problem(b"16022900"))  # 2016 was a leap year


class AvazuSampleTest(unittest.TestCase):
    def test_real_sample(self) -> None:
        path = shared_data("samples", "avazu_sample.txt")
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "avazu")
            meta = run(
                SplitOptions(inputs=[path], ratios=(1.0, 0.0, 0.0)), out
            ).metadata
            self.assertEqual(
                (meta.splits["train"].rows, meta.splits["train"].positives), (100, 20)
            )
            # A share of 0 asks for no split (the API allows it, the command line not).
            self.assertEqual(sorted(meta.splits), ["train"])
            self.assertEqual(meta.categorical[:4], ["hour", "weekday", "weekend", "C1"])
            self.assertNotIn("id", meta.categorical)
            self.assertEqual(len(meta.categorical), 24)
            with open(path) as f:
                rows = [line.rstrip("\n").split(",") for line in f][1:]
            table = read_split(out, "train")
            # min_count 2 (Avazu's default): values seen once are out of vocabulary.
            site = vocabulary((r[5] for r in rows), min_count=2)
            self.assertEqual(
                column(table, "site_id"), [site.get(r[5], 0) for r in rows]
            )
            hours = vocabulary((r[2][6:] for r in rows), min_count=2)
            self.assertEqual(
                column(table, "hour"), [hours.get(r[2][6:], 0) for r in rows]
            )
            self.assertEqual(meta.options["vocabulary"]["min_count"], 2)


class AvazuGeneratedTest(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.out = os.path.join(self.dir, "out")

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def write(self, name: str, rows, **kw) -> str:  # pyre-ignore[2]
        return write_text(
            os.path.join(self.dir, name),
            [",".join(AVAZU_HEADER)] + [",".join(r) for r in rows],
            **kw,
        )

    def test_given_split_crlf(self) -> None:
        rows = avazu_rows(300, seed=4)
        files = {
            "train": self.write("train.csv", rows[:200], eol="\r\n"),
            "valid": self.write("valid.csv", rows[200:250]),
            "test": self.write("test.csv", rows[250:], final_newline=False),
        }
        meta = run(SplitOptions(kind="given", **files), self.out, min_count=1).metadata
        self.assertEqual(
            {k: v.rows for k, v in meta.splits.items()},
            {"train": 200, "valid": 50, "test": 50},
        )
        weekday = vocabulary(
            str((int(r[2][4:6]) - 20) % 7) for r in rows[:200]
        )  # 2014-10-20 was a Monday
        self.assertEqual(
            column(read_split(self.out, "test"), "weekday"),
            [weekday[str((int(r[2][4:6]) - 20) % 7)] for r in rows[250:]],
        )

    def test_bad_inputs(self) -> None:
        rows = avazu_rows(5, seed=1)
        path = self.write("train.csv", rows)
        broken = [list(r) for r in rows]
        broken[2][2] = "14103200"
        self.write("train.csv", broken)
        with self.assertRaises(BadRowError) as ctx:
            run(SplitOptions(inputs=[path]), self.out)
        self.assertEqual(
            str(ctx.exception),
            f"'14103200' is not an hour YYMMDDHH ({path}:4, field hour)",
        )
        broken[2][2] = rows[2][2]
        broken[3][1] = "yes"
        self.write("train.csv", broken)
        with self.assertRaises(BadRowError) as ctx:
            run(SplitOptions(inputs=[path]), self.out)
        self.assertEqual(
            str(ctx.exception),
            f"'yes' is not a label (expected 0, 1) ({path}:5, field click)",
        )

    def test_header_problems(self) -> None:
        path = write_text(
            os.path.join(self.dir, "a.csv"), ["id,label,hour,C1", "1,0,14102100,a"]
        )
        with self.assertRaises(PreparationError) as ctx:
            run(SplitOptions(inputs=[path]), self.out)
        self.assertEqual(
            str(ctx.exception),
            f"{path}: the header has no ['click'] column (is this Avazu data?)",
        )
        with self.assertRaisesRegex(PreparationError, "Avazu has no numeric fields"):
            run(SplitOptions(inputs=[path]), self.out, numeric="log")
