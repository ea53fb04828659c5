import os
import tempfile
import unittest

from tests.preprocessing.helpers import write_bytes, write_text
from tests.shared_data import shared_data
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.sources.libfm_fields import FeatureIndexMap, FieldRanges


class FeatureIndexMapTest(unittest.TestCase):
    def test_parse(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = write_text(
                os.path.join(d, "featindex.txt"),
                [
                    "truncate\t0",
                    "1:other\t1",
                    "1:mon\t2",
                    "8:101.67.33.*\t3",
                    "1:tue\t4",
                ],
            )
            m = FeatureIndexMap(path)
            self.assertEqual(m.fields, ["1", "8"])
            self.assertEqual(
                [m.field_of(i) for i in range(6)], [None, 0, 0, 1, 0, None]
            )

    def test_errors_name_the_line(self) -> None:
        cases = [
            (
                b"1:a\t1\n1:b 2\n",
                "f.txt:2: expected 'field:value<TAB>index', found '1:b 2'",
            ),
            (
                b"1:a\t1\nnofield\t2\n",
                "f.txt:2: expected 'field:value' before the tab, found 'nofield'",
            ),
            (b"1:a\t1\n2:b\t1\n", "f.txt:2: index 1 appears twice"),
            (b"1:a\tx1\n", "f.txt:1: index 'x1' is not a non-negative integer"),
            (b"1:\xff\t1\n", "f.txt:1: not valid UTF-8"),
            (b"truncate\t0\n", "f.txt: no features"),
        ]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.txt")
            for data, message in cases:
                write_bytes(path, data)
                with self.assertRaises(PreparationError) as ctx:
                    FeatureIndexMap(path)
                self.assertTrue(
                    str(ctx.exception).startswith(path.replace("f.txt", "") + message),
                    str(ctx.exception),
                )
            with self.assertRaisesRegex(
                PreparationError, "feature-index map does not exist"
            ):
                FeatureIndexMap(os.path.join(d, "missing.txt"))

    def test_real_ipinyou_map_does_not_parse(self) -> None:
        path = shared_data("ipinyou_2997", "featindex.txt")
        with self.assertRaises(PreparationError) as ctx:
            FeatureIndexMap(path)
        self.assertEqual(
            str(ctx.exception),
            f"{path}:43: index '42\u60a0\u6613\u4e92\u901a.' is not a non-negative integer",
        )


class FieldRangesTest(unittest.TestCase):
    def test_ranges(self) -> None:
        r = FieldRanges("0-9, 10-19,25")
        self.assertEqual(r.fields, ["C1", "C2", "C3"])
        self.assertEqual(
            [r.field_of(i) for i in (0, 9, 10, 19, 20, 25, 26)],
            [0, 0, 1, 1, None, 2, None],
        )
        named = FieldRanges("item=100-199,user=0-99")
        self.assertEqual(named.fields, ["item", "user"])
        self.assertEqual((named.field_of(5), named.field_of(150)), (1, 0))

    def test_errors(self) -> None:
        for spec, message in [
            ("0-9,5-12", "field ranges of C1 and C2 overlap"),
            ("9-0", "ends before it starts"),
            ("a-b", "is not 'lo-hi'"),
            ("x=0-1,x=2-3", "name a field twice"),
        ]:
            with self.assertRaisesRegex(PreparationError, message):
                FieldRanges(spec)
