import os
import tempfile
import unittest
from typing import List

from hypothesis import given, settings, strategies as st

from torchrec_dlf.preprocessing.delimited_reader import (
    count_lines,
    DelimitedReader,
    read_first_line,
    split_header,
)
from torchrec_dlf.preprocessing.errors import PreparationError
from tests.preprocessing.helpers import write_bytes, write_text


def read_all(reader: DelimitedReader):  # pyre-ignore[3]
    """(line, row) of every good row and (line, message) of every rejected one."""
    rows, rejected = [], []
    for block in reader.blocks():
        values = [block.columns[c].to_pylist() for c in reader.columns]
        rows += [(int(line), tuple(v[i] for v in values)) for i, line in enumerate(block.lines)]
        rejected += [(r.line, r.message()) for r in block.rejected]
    return rows, rejected


class DelimitedReaderTest(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def test_line_numbers_with_header_bad_rows_and_crlf(self) -> None:
        path = write_text(
            os.path.join(self.dir, "a.csv"),
            ["a,b,c", "1,2,3", "4,5", "", "7,8,9", "1,2,3,4", "x,y,z"],
            eol="\r\n",
            final_newline=False,
        )
        reader = DelimitedReader(path, ["a", "b", "c"], ",", header=True, block_bytes=1024)
        rows, rejected = read_all(reader)
        self.assertEqual(
            rows,
            [
                (2, (b"1", b"2", b"3")),
                (4, (b"", b"", b"")),
                (5, (b"7", b"8", b"9")),
                (7, (b"x", b"y", b"z")),
            ],
        )
        self.assertEqual(
            rejected,
            [
                (3, f"{path}:3: expected 3 fields, found 2"),
                (6, f"{path}:6: expected 3 fields, found 4"),
            ],
        )
        self.assertEqual(reader.data_lines, 6)

    def test_quotes_are_plain_characters(self) -> None:
        path = write_text(os.path.join(self.dir, "q.tsv"), ['1\t"a', 'b"\t2', "3\t4"])
        rows, rejected = read_all(DelimitedReader(path, ["x", "y"], "\t", header=False))
        self.assertEqual([r[1] for r in rows], [(b"1", b'"a'), (b'b"', b"2"), (b"3", b"4")])
        self.assertEqual(rejected, [])

    def test_truncated_last_line(self) -> None:
        path = write_bytes(os.path.join(self.dir, "t.tsv"), b"1\t2\t3\n4\t5\t6\n7\t8")
        rows, rejected = read_all(DelimitedReader(path, ["a", "b", "c"], "\t", header=False))
        self.assertEqual([r[0] for r in rows], [1, 2])
        self.assertEqual(rejected, [(3, f"{path}:3: expected 3 fields, found 2")])

    @settings(max_examples=40, deadline=None)
    @given(
        st.lists(
            st.one_of(
                st.lists(st.sampled_from(["", "a", "bb", "7", "\u00e9"]), min_size=3, max_size=3),
                st.lists(st.sampled_from(["", "z"]), min_size=0, max_size=5),
            ),
            min_size=1,
            max_size=60,
        ),
        st.sampled_from(["\n", "\r\n"]),
        st.booleans(),
        st.sampled_from([1024, 4096, 1 << 20]),
    )
    def test_every_line_is_placed_exactly(
        self, rows: List[List[str]], eol: str, final_newline: bool, block_bytes: int
    ) -> None:
        lines = [",".join(r) for r in rows]
        if not final_newline and lines[-1] == "":
            lines.append("a,b,c")  # a file cannot end in an unterminated empty line
        path = write_text(os.path.join(self.dir, "h.csv"), ["a,b,c"] + lines, eol, final_newline)
        reader = DelimitedReader(path, ["a", "b", "c"], ",", header=True, block_bytes=block_bytes)
        good, rejected = read_all(reader)
        expected_good, expected_bad = [], []
        for number, line in enumerate(lines, 2):
            fields = line.split(",")
            if len(fields) == 3 or line == "":
                expected_good.append(
                    (number, tuple(f.encode() for f in (fields if line else ["", "", ""])))
                )
            else:
                expected_bad.append(number)
        self.assertEqual(good, expected_good)
        self.assertEqual([r[0] for r in rejected], expected_bad)
        self.assertEqual(reader.data_lines, len(lines))

    def test_line_longer_than_a_block(self) -> None:
        path = write_text(os.path.join(self.dir, "l.csv"), ["1," + "x" * 5000, "2,y"])
        with self.assertRaisesRegex(PreparationError, "larger block size"):
            read_all(DelimitedReader(path, ["a", "b"], ",", header=False, block_bytes=1024))


class HeaderTest(unittest.TestCase):
    def test_header(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = write_bytes(os.path.join(d, "h.csv"), b"\xef\xbb\xbfa,b\r\n1,2\r\n")
            self.assertEqual(split_header(path, ","), ["a", "b"])
            self.assertEqual(read_first_line(path), (b"\xef\xbb\xbfa,b", True))
            only = write_bytes(os.path.join(d, "o.csv"), b"a,b\n")
            with self.assertRaisesRegex(PreparationError, "has a header but no rows"):
                split_header(only, ",")
            twice = write_bytes(os.path.join(d, "t.csv"), b"a,b,a\n1,2,3\n")
            with self.assertRaisesRegex(PreparationError, r"names \['a'\] more than once"):
                split_header(twice, ",")

    def test_count_lines(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(count_lines(write_bytes(os.path.join(d, "a"), b"1\n2\n")), 2)
            self.assertEqual(count_lines(write_bytes(os.path.join(d, "b"), b"1\r\n2")), 2)
            self.assertEqual(count_lines(write_bytes(os.path.join(d, "c"), b"\n\n")), 2)
