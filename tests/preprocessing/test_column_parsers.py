import math
import unittest
from typing import List, Optional

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from torchrec_dlf.preprocessing import bad_rows
from torchrec_dlf.preprocessing.column_parsers import (
    CategoricalParser,
    LabelParser,
    NumericParser,
)
from torchrec_dlf.preprocessing.numeric_transform import bucket_of

_PIECES = [
    b"0",
    b"1",
    b"7",
    b"9",
    b"+",
    b"-",
    b".",
    b"e",
    b"E",
    b"x",
    b" ",
    b"nan",
    b"inf",
    b"\xff",
    b"\xc3\xa9",
    b"a",
    b"f",
]
raw_values = st.lists(st.sampled_from(_PIECES), max_size=6).map(b"".join)
value_blocks = st.lists(st.one_of(raw_values, st.none()), min_size=1, max_size=30)


def arrow(values: List[Optional[bytes]]) -> pa.Array:
    return pa.array(values, pa.binary())


class LabelParserTest(unittest.TestCase):
    def test_default_map(self) -> None:
        p = LabelParser("label")
        out = p.parse(arrow([b"0", b"1", b"1"]))
        self.assertEqual(out["label"].tolist(), [0, 1, 1])
        self.assertEqual(out["label"].dtype, np.int8)
        self.assertIsNone(p.parse(arrow([b"0", b"2"])))
        self.assertEqual(
            p.problem(b"2"), (bad_rows.BAD_LABEL, "'2' is not a label (expected 0, 1)")
        )
        self.assertEqual(
            p.problem(b""), (bad_rows.BAD_LABEL, "'' is not a label (expected 0, 1)")
        )

    def test_label_map(self) -> None:
        p = LabelParser("y", {"-1": 0, "+1": 1, "1": 1})
        self.assertEqual(
            p.parse(arrow([b"-1", b"+1", b"1"]))["label"].tolist(), [0, 1, 1]
        )
        self.assertIsNone(p.parse(arrow([b"0"])))
        with self.assertRaises(ValueError):
            LabelParser("y", {"a": 2})

    @settings(max_examples=60, deadline=None)
    @given(value_blocks)
    def test_fast_and_slow_agree(self, values: List[Optional[bytes]]) -> None:
        p = LabelParser("label")
        self.assertEqual(
            p.parse(arrow(values)) is None, any(p.problem(v) for v in values)
        )


class NumericParserTest(unittest.TestCase):
    def test_numbers_and_missing(self) -> None:
        p = NumericParser("I1", "none")
        out = p.parse(arrow([b"1", b"", b"-2.5", b"1e3", b"260.0", b".5", b"007"]))[
            "I1"
        ]
        np.testing.assert_allclose(out, [1, 0, -2.5, 1000, 260, 0.5, 7])
        self.assertEqual(out.dtype, np.float32)

    def test_log(self) -> None:
        out = NumericParser("I1", "log").parse(arrow([b"", b"-3", b"0", b"1", b"99"]))[
            "I1"
        ]
        np.testing.assert_allclose(
            out, [0, 0, 0, math.log(2), math.log(100)], rtol=1e-6
        )

    def test_bucket_is_categorical(self) -> None:
        p = NumericParser("I1", "bucket")
        self.assertEqual(p.outputs[0].kind, "categorical")
        out = p.parse(arrow([b"", b"-1", b"0", b"1.9", b"2", b"3", b"100", None]))["I1"]
        self.assertEqual(out.to_pylist(), ["", "-1", "0", "1", "2", "1", "21", ""])

    def test_problems(self) -> None:
        p = NumericParser("I5")
        for value in [b"abc", b"1e", b"nan", b"inf", b"1e999", b" 1", b"0x10", b"1,5"]:
            self.assertIsNone(p.parse(arrow([b"1", value])), value)
            self.assertEqual(
                p.problem(value),
                (bad_rows.NOT_A_NUMBER, f"{value.decode()!r} is not a number"),
                value,
            )
        self.assertEqual(
            p.problem(b"1\xff"), (bad_rows.INVALID_UTF8, "invalid UTF-8 in '1\\\\xff'")
        )

    @settings(max_examples=150, deadline=None)
    @given(value_blocks, st.sampled_from(["log", "bucket", "none"]))
    def test_fast_and_slow_agree(
        self, values: List[Optional[bytes]], transform: str
    ) -> None:
        p = NumericParser("I1", transform)
        out = p.parse(arrow(values))
        self.assertEqual(out is None, any(p.problem(v) for v in values))
        if out is None:
            return
        numbers = [float(v) if v else math.nan for v in values]
        if transform == "bucket":
            expected = ["" if math.isnan(x) else bucket_of(x) for x in numbers]
            self.assertEqual(out["I1"].to_pylist(), expected)
        elif transform == "none":
            np.testing.assert_allclose(
                out["I1"], np.nan_to_num(np.array(numbers, np.float32))
            )
        else:
            ref = [0.0 if math.isnan(x) else math.log1p(max(x, 0.0)) for x in numbers]
            np.testing.assert_allclose(out["I1"], np.array(ref, np.float32), rtol=1e-6)


class CategoricalParserTest(unittest.TestCase):
    def test_values_empty_and_absent(self) -> None:
        out = CategoricalParser("C1").parse(arrow([b"a", b"", None, "é".encode()]))[
            "C1"
        ]
        self.assertEqual(out.to_pylist(), ["a", "", None, "é"])

    def test_invalid_utf8(self) -> None:
        p = CategoricalParser("C1")
        self.assertIsNone(p.parse(arrow([b"a", b"\xe9t\xe9"])))
        self.assertEqual(
            p.problem(b"\xe9t\xe9"),
            (bad_rows.INVALID_UTF8, "invalid UTF-8 in '\\\\xe9t\\\\xe9'"),
        )

    def test_hex_hash(self) -> None:
        p = CategoricalParser("C3", hex_hash=True)
        out = p.parse(arrow([b"05db9164", b"", b"0b153874"]))["C3"]
        self.assertEqual(out.to_pylist(), ["05db9164", "", "0b153874"])
        for value in [b"05db916", b"05DB9164", b"05db9164a", b"05db91g4"]:
            self.assertIsNone(p.parse(arrow([value])))
            self.assertEqual(
                p.problem(value),
                (
                    bad_rows.NOT_A_HEX_HASH,
                    f"{value.decode()!r} is not an 8-digit hex hash",
                ),
            )

    @settings(max_examples=60, deadline=None)
    @given(value_blocks, st.booleans())
    def test_fast_and_slow_agree(
        self, values: List[Optional[bytes]], hex_hash: bool
    ) -> None:
        p = CategoricalParser("C1", hex_hash=hex_hash)
        self.assertEqual(
            p.parse(arrow(values)) is None, any(p.problem(v) for v in values)
        )

    @settings(max_examples=40, deadline=None)
    @given(
        st.lists(
            st.sampled_from([b"", b"0123abcd", b"ffffffff", b"0000000g", b"123"]),
            min_size=1,
        )
    )
    def test_hex_fast_and_slow_agree(self, values: List[bytes]) -> None:
        p = CategoricalParser("C1", hex_hash=True)
        self.assertEqual(
            p.parse(arrow(values)) is None, any(p.problem(v) for v in values)
        )
