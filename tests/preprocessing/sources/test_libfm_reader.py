import os
import tempfile
import unittest
from typing import List

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.preprocessing.helpers import write_bytes, write_text
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.sources.libfm_fields import FieldRanges
from torchrec_dlf.preprocessing.sources.libfm_reader import LibFMReader

FIELDS = FieldRanges("a=1-10,b=11-20,n=21")


def read_all(reader: LibFMReader):  # pyre-ignore[3]
    rows, rejected = [], []
    for block in reader.blocks():
        values = [block.columns[c].to_pylist() for c in reader.columns]
        rows += [
            (int(line), tuple(v[i] for v in values))
            for i, line in enumerate(block.lines)
        ]
        rejected += [r.message() for r in block.rejected]
    return rows, rejected


class LibFMReaderTest(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self._tmp.name, "t.fm")

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def test_rows(self) -> None:
        write_text(
            self.path,
            ["1 3:1 12:1 21:0.5", "0 15:1.0", "-1\t4:1"],
            eol="\r\n",
            final_newline=False,
        )
        reader = LibFMReader(self.path, FIELDS, numeric_fields=["n"], block_lines=2)
        rows, rejected = read_all(reader)
        self.assertEqual(
            rows,
            [
                (1, (b"1", b"3", b"12", b"0.5")),
                (2, (b"0", None, b"15", None)),
                (3, (b"-1", b"4", None, None)),
            ],
        )
        self.assertEqual(rejected, [])
        self.assertEqual(reader.data_lines, 3)
        self.assertEqual(reader.columns, ["label", "a", "b", "n"])

    def test_bad_lines(self) -> None:
        p = self.path
        cases = [
            ("1 3:1 4:1", f"given twice (indices 3 and 4) ({p}:1, field a)"),
            ("1 3:1 99:1", f"token 2: feature index 99 belongs to no field ({p}:1)"),
            ("1 3:1 x:1", f"token 2: 'x:1' is not index:value ({p}:1)"),
            ("1 3", f"token 1: '3' is not index:value ({p}:1)"),
            ("1 3:", f"token 1: '3:' is not index:value ({p}:1)"),
            (
                "1 3:0.5",
                f"feature 3 has value '0.5', a one-hot feature needs 1 ({p}:1, field a)",
            ),
            ("   ", f"empty line ({p}:1)"),
        ]
        for line, message in cases:
            write_text(p, [line])
            self.assertEqual(read_all(LibFMReader(p, FIELDS))[1], [message], line)
        write_bytes(p, b"1 3:1\n1 4:\xff1\n")
        self.assertEqual(
            read_all(LibFMReader(p, FIELDS))[1],
            [f"invalid UTF-8 in '1 4:\\\\xff1' ({p}:2)"],
        )

    def test_unknown_numeric_field(self) -> None:
        with self.assertRaisesRegex(PreparationError, r"numeric fields \['z'\]"):
            LibFMReader(self.path, FIELDS, numeric_fields=["z"])

    @settings(max_examples=40, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["0", "1"]),
                st.one_of(st.none(), st.integers(1, 10)),
                st.one_of(st.none(), st.integers(11, 20)),
            ),
            min_size=1,
            max_size=40,
        ),
        st.integers(0, 60),
        st.sampled_from(["\n", "\r\n"]),
    )
    def test_round_trip_and_corruption_line(
        self,
        rows: List[tuple],
        corrupt: int,
        eol: str,  # pyre-ignore[2]
    ) -> None:
        lines = []
        for label, a, b in rows:
            tokens = [label] + [f"{i}:1" for i in (a, b) if i is not None]
            lines.append(" ".join(tokens))
        write_text(self.path, lines, eol)
        got, rejected = read_all(LibFMReader(self.path, FIELDS, block_lines=7))
        expected = [
            (
                n,
                (
                    label.encode(),
                    None if a is None else str(a).encode(),
                    None if b is None else str(b).encode(),
                    None,
                ),
            )
            for n, (label, a, b) in enumerate(rows, 1)
        ]
        self.assertEqual(got, expected)
        self.assertEqual(rejected, [])
        # One corrupted line is reported at its own line, every other row still read.
        bad = corrupt % len(lines)
        lines[bad] = lines[bad] + " 5:1 6:1"
        write_text(self.path, lines, eol)
        got, rejected = read_all(LibFMReader(self.path, FIELDS, block_lines=7))
        self.assertEqual(len(rejected), 1)
        self.assertTrue(rejected[0].startswith("given twice"), rejected[0])
        self.assertTrue(
            rejected[0].endswith(f" ({self.path}:{bad + 1}, field a)"), rejected[0]
        )
        self.assertEqual(
            [g[0] for g in got], [n for n in range(1, len(lines) + 1) if n != bad + 1]
        )
