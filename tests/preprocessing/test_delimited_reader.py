import csv
import io
import os
import tempfile
import unittest
from typing import List

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.preprocessing.helpers import write_bytes, write_text
from torchrec_dlf.preprocessing.delimited_reader import DelimitedReader
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.rfc4180 import split_quoted
from torchrec_dlf.preprocessing.table_header import split_header


def read_all(reader: DelimitedReader):  # pyre-ignore[3]
    """(line, row) of every good row and (line, message) of every rejected one."""
    rows, rejected = [], []
    for block in reader.blocks():
        values = [block.columns[c].to_pylist() for c in reader.columns]
        rows += [
            (int(line), tuple(v[i] for v in values))
            for i, line in enumerate(block.lines)
        ]
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
        reader = DelimitedReader(
            path, ["a", "b", "c"], ",", header=True, block_bytes=1024
        )
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
                (3, f"expected 3 fields, found 2 ({path}:3)"),
                (6, f"expected 3 fields, found 4 ({path}:6)"),
            ],
        )
        self.assertEqual(reader.data_lines, 6)

    def test_quotes_are_plain_characters(self) -> None:
        path = write_text(os.path.join(self.dir, "q.tsv"), ['1\t"a', 'b"\t2', "3\t4"])
        rows, rejected = read_all(DelimitedReader(path, ["x", "y"], "\t", header=False))
        self.assertEqual(
            [r[1] for r in rows], [(b"1", b'"a'), (b'b"', b"2"), (b"3", b"4")]
        )
        self.assertEqual(rejected, [])

    def test_truncated_last_line(self) -> None:
        path = write_bytes(os.path.join(self.dir, "t.tsv"), b"1\t2\t3\n4\t5\t6\n7\t8")
        rows, rejected = read_all(
            DelimitedReader(path, ["a", "b", "c"], "\t", header=False)
        )
        self.assertEqual([r[0] for r in rows], [1, 2])
        self.assertEqual(rejected, [(3, f"expected 3 fields, found 2 ({path}:3)")])

    @settings(max_examples=40, deadline=None)
    @given(
        st.lists(
            st.one_of(
                st.lists(
                    st.sampled_from(["", "a", "bb", "7", "\u00e9"]),
                    min_size=3,
                    max_size=3,
                ),
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
        path = write_text(
            os.path.join(self.dir, "h.csv"), ["a,b,c"] + lines, eol, final_newline
        )
        reader = DelimitedReader(
            path, ["a", "b", "c"], ",", header=True, block_bytes=block_bytes
        )
        good, rejected = read_all(reader)
        expected_good, expected_bad = [], []
        for number, line in enumerate(lines, 2):
            fields = line.split(",")
            if len(fields) == 3 or line == "":
                expected_good.append(
                    (
                        number,
                        tuple(f.encode() for f in (fields if line else ["", "", ""])),
                    )
                )
            else:
                expected_bad.append(number)
        self.assertEqual(good, expected_good)
        self.assertEqual([r[0] for r in rejected], expected_bad)
        self.assertEqual(reader.data_lines, len(lines))

    def test_line_longer_than_a_block(self) -> None:
        path = write_text(os.path.join(self.dir, "l.csv"), ["1," + "x" * 5000, "2,y"])
        with self.assertRaisesRegex(PreparationError, "larger block size"):
            read_all(
                DelimitedReader(path, ["a", "b"], ",", header=False, block_bytes=1024)
            )


class QuotingTest(unittest.TestCase):
    """RFC 4180 quoting (Avazu, BARS, csv) and the line-by-line checked path."""

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def read(
        self, data: bytes, quoting: bool = True, block_bytes: int = 1 << 20
    ):  # pyre-ignore
        path = write_bytes(os.path.join(self.dir, "q.csv"), data)
        reader = DelimitedReader(
            path,
            ["a", "b", "c"],
            ",",
            header=True,
            block_bytes=block_bytes,
            quoting=quoting,
        )
        rows, rejected = read_all(reader)
        return path, rows, rejected, reader.data_lines

    def test_quoted_values_are_unquoted(self) -> None:
        _, rows, rejected, _ = self.read(b'a,b,c\n"x",y,z\n"a,b","say ""hi""",5"\n')
        self.assertEqual(
            rows, [(2, (b"x", b"y", b"z")), (3, (b"a,b", b'say "hi"', b'5"'))]
        )
        self.assertEqual(rejected, [])

    def test_field_count_after_unquoting(self) -> None:
        # Split at every comma, this row has the right count, every value shifted.
        path, rows, rejected, _ = self.read(b'a,b,c\n1,"x,y"\n1,2,3\n')
        self.assertEqual(rows, [(3, (b"1", b"2", b"3"))])
        self.assertEqual(rejected, [(2, f"expected 3 fields, found 2 ({path}:2)")])

    def test_broken_quoting_names_the_field(self) -> None:
        path, rows, rejected, lines = self.read(
            b'a,b,c\n1,"x,y\n1,2,3\n"a"b,2,3\n4,5,6'
        )
        self.assertEqual([r[0] for r in rows], [3, 5])
        rule = "a quoted value must close on its line and be followed by ',' or the line end"
        self.assertEqual(
            rejected,
            [(2, f"{rule} ({path}:2, field b)"), (4, f"{rule} ({path}:4, field a)")],
        )
        self.assertEqual(lines, 4)

    def test_quotes_are_plain_without_quoting(self) -> None:
        _, rows, _, _ = self.read(b'a,b,c\n"x",y,z\n', quoting=False)
        self.assertEqual(rows, [(2, (b'"x"', b"y", b"z"))])

    def test_invalid_utf8_in_a_wrong_count_row(self) -> None:
        # pyarrow's invalid-row handler cannot take this row: the line check does.
        path, rows, rejected, lines = self.read(
            b"a,b,c\n1,2,3\n\xff\xfe,2,3,4\n\xff,2,3\n"
        )
        self.assertEqual(rows, [(2, (b"1", b"2", b"3")), (4, (b"\xff", b"2", b"3"))])
        self.assertEqual(rejected, [(3, f"expected 3 fields, found 4 ({path}:3)")])
        self.assertEqual(lines, 3)

    def test_carriage_returns(self) -> None:
        path, rows, rejected, _ = self.read(b"a,b,c\r\n1,2,3\r\n4,5\r6\n7,8,9\n")
        self.assertEqual([r[0] for r in rows], [2, 4])
        self.assertEqual(
            rejected,
            [
                (
                    3,
                    "a carriage return inside the line (only LF and CRLF line "
                    f"endings are read) ({path}:3)",
                )
            ],
        )
        with self.assertRaisesRegex(PreparationError, "CR-only line endings"):
            self.read(b"a,b,c\r1,2,3\r4,5,6\r")
        cr_only = write_bytes(os.path.join(self.dir, "cr.csv"), b"a,b,c\r1,2,3\r")
        with self.assertRaisesRegex(PreparationError, "CR-only line endings"):
            split_header(cr_only, ",")

    def test_quoted_header(self) -> None:
        path = write_bytes(os.path.join(self.dir, "h.csv"), b'"a","b,c"\n1,2\n')
        self.assertEqual(split_header(path, ",", quoting=True), ["a", "b,c"])
        self.assertEqual(split_header(path, ","), ['"a"', '"b', 'c"'])

    def test_split_quoted(self) -> None:
        self.assertEqual(split_quoted(b'a,"b,c",', b","), ([b"a", b"b,c", b""], -1))
        self.assertEqual(split_quoted(b'a,"b', b","), (None, 1))
        self.assertEqual(split_quoted(b'"a"x,b', b","), (None, 0))

    @settings(max_examples=40, deadline=None)
    @given(
        st.lists(
            st.lists(
                st.sampled_from(["", "a", "b,c", 'd"e', "x y", "\u00e9"]),
                min_size=1,
                max_size=4,
            ),
            min_size=1,
            max_size=40,
        ),
        st.sampled_from([1024, 1 << 20]),
        st.booleans(),
    )
    def test_agrees_with_the_csv_module(
        self, rows: List[List[str]], block_bytes: int, quote_all: bool
    ) -> None:
        buffer = io.StringIO()
        writer = csv.writer(
            buffer,
            lineterminator="\n",
            quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
        )
        writer.writerow(["a", "b", "c"])
        writer.writerows(rows)
        path, good, rejected, lines = self.read(
            buffer.getvalue().encode(), True, block_bytes
        )
        expected_good = [
            (i + 2, tuple(v.encode() for v in r))
            for i, r in enumerate(rows)
            if len(r) == 3
        ]
        # csv writes a row of one empty value as "" (quoted): one field, not three.
        self.assertEqual(good, expected_good)
        expected_bad = [i + 2 for i, r in enumerate(rows) if len(r) != 3]
        self.assertEqual([r[0] for r in rejected], expected_bad)
        self.assertEqual(lines, len(rows))
