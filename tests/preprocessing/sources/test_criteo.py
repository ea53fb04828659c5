import gzip
import hashlib
import math
import os
import re
import shutil
import tempfile
import unittest
from typing import List

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.preprocessing.helpers import column, read_split, vocabulary, write_text
from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.preprocessing.errors import BadRowError, PreparationError
from torchrec_dlf.preprocessing.options import CommonOptions, SplitOptions
from torchrec_dlf.preprocessing.preparation import prepare
from torchrec_dlf.preprocessing.preparation_result import PreparationResult
from torchrec_dlf.preprocessing.row_split import row_uniforms
from torchrec_dlf.preprocessing.sources.criteo import criteo_plan, write_criteo_tsv
from torchrec_dlf.preprocessing.stable_hash import fnv1a_64_of

ROWS = 3000


def run(
    inputs: List[str], out: str, kind: str = "random", **options
) -> PreparationResult:  # pyre-ignore[2]
    split_keys = {"train", "valid", "test", "seed", "ratios"}
    split = SplitOptions(
        kind=kind,
        inputs=inputs,
        **{k: v for k, v in options.items() if k in split_keys},
    )
    common = CommonOptions(**{k: v for k, v in options.items() if k not in split_keys})
    return prepare(criteo_plan(split, common), out)


class CriteoGeneratedTest(unittest.TestCase):
    """A generated file in the exact Criteo format, prepared once."""

    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.TemporaryDirectory()
        cls.dir = cls._tmp.name
        cls.path = os.path.join(cls.dir, "train.txt")
        write_criteo_tsv(cls.path, ROWS, seed=5)
        cls.out = os.path.join(cls.dir, "out")
        cls.result = run([cls.path], cls.out, seed=11, min_count=2)
        with open(cls.path) as f:
            cls.rows = [line.rstrip("\n").split("\t") for line in f]

    @classmethod
    def tearDownClass(cls) -> None:
        cls._tmp.cleanup()

    def test_round_trip_of_every_row(self) -> None:
        splits = np.searchsorted(
            [0.8, 0.9], row_uniforms(11, np.arange(ROWS)), side="right"
        )
        train = [r for r, s in zip(self.rows, splits) if s == 0]
        vocabs = [
            vocabulary([r[14 + j] for r in train], min_count=2) for j in range(26)
        ]
        meta = self.result.metadata
        self.assertEqual(
            meta.vocab_sizes, {f"C{j + 1}": len(vocabs[j]) + 1 for j in range(26)}
        )
        for code, name in enumerate(["train", "valid", "test"]):
            table = read_split(self.out, name)
            rows = [r for r, s in zip(self.rows, splits) if s == code]
            self.assertEqual(table.num_rows, len(rows))
            self.assertEqual(column(table, "label"), [int(r[0]) for r in rows])
            for j in range(13):
                expected = [math.log1p(max(float(r[1 + j] or 0), 0.0)) for r in rows]
                np.testing.assert_allclose(
                    column(table, f"I{j + 1}"), expected, rtol=1e-6
                )
            for j in range(26):
                expected = [vocabs[j].get(r[14 + j], 0) for r in rows]
                self.assertEqual(column(table, f"C{j + 1}"), expected)
            self.assertEqual(meta.splits[name].positives, sum(int(r[0]) for r in rows))

    def test_metadata_records_source_and_options(self) -> None:
        meta = DatasetMetadata.read(self.out)
        with open(self.path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        self.assertEqual(
            meta.source["files"],
            [
                {
                    "path": os.path.abspath(self.path),
                    "size": os.path.getsize(self.path),
                    "sha256": digest,
                    "lines": ROWS,
                }
            ],
        )
        self.assertEqual(meta.source["bad_rows"], {})
        options = meta.options
        self.assertEqual(options["source"], "criteo")
        self.assertEqual(options["numeric_transform"], "log")
        self.assertEqual(
            options["fields"]["I1"],
            {"kind": "numeric", "column": "I1", "transform": "log"},
        )
        self.assertEqual(options["fields"]["C1"]["kind"], "categorical")
        self.assertEqual(options["vocabulary"]["min_count"], 2)
        self.assertEqual(
            options["split"],
            {
                "kind": "random",
                "ratios": [0.8, 0.1, 0.1],
                "seed": 11,
                "hash": "splitmix64",
            },
        )
        self.assertEqual(meta.numeric, [f"I{i}" for i in range(1, 14)])
        self.assertEqual(meta.categorical, [f"C{i}" for i in range(1, 27)])

    def test_crlf_missing_final_newline_and_block_size_change_nothing(self) -> None:
        other = os.path.join(self.dir, "crlf.txt")
        write_criteo_tsv(other, ROWS, seed=5, line_ending="\r\n", final_newline=False)
        out = os.path.join(self.dir, "out_crlf")
        run([other], out, seed=11, min_count=2, block_bytes=64 << 10)
        for split in ("train", "valid", "test"):
            self.assertTrue(read_split(out, split).equals(read_split(self.out, split)))

    def test_rerun_replaces_output_identically(self) -> None:
        out = os.path.join(self.dir, "again")
        shutil.copytree(self.out, out)
        run([self.path], out, seed=11, min_count=2, checksum="none")
        self.assertTrue(read_split(out, "train").equals(read_split(self.out, "train")))
        self.assertEqual(DatasetMetadata.read(out).source["files"][0]["sha256"], None)
        self.assertEqual(sorted(os.listdir(self.dir)).count("again"), 1)
        self.assertFalse([n for n in os.listdir(self.dir) if ".tmp" in n])

    def test_hash_size(self) -> None:
        out = os.path.join(self.dir, "hashed")
        meta = run([self.path], out, seed=11, hash_size=97).metadata
        self.assertEqual(set(meta.vocab_sizes.values()), {98})
        table = read_split(out, "train")
        train = [
            r for r, s in zip(self.rows, row_uniforms(11, np.arange(ROWS)) < 0.8) if s
        ]
        expected = [1 + fnv1a_64_of(r[14].encode()) % 97 for r in train]
        self.assertEqual(column(table, "C1"), expected)
        self.assertEqual(meta.options["vocabulary"]["hash_size"], 97)


class CriteoSplitsTest(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def test_day_split(self) -> None:
        paths = []
        for day, rows in [(0, 50), (1, 40), (2, 31)]:
            paths.append(os.path.join(self.dir, f"day_{day}"))
            write_criteo_tsv(paths[-1], rows, seed=day)
        out = os.path.join(self.dir, "out")
        meta = run(list(reversed(paths)), out, kind="day", min_count=1).metadata
        self.assertEqual(
            {k: v.rows for k, v in meta.splits.items()},
            {"train": 90, "valid": 16, "test": 15},
        )
        with open(paths[2]) as f:
            last = [line.split("\t") for line in f]
        self.assertEqual(
            column(read_split(out, "test"), "label"), [int(r[0]) for r in last[16:]]
        )
        self.assertEqual(meta.options["split"]["last_day_lines"], 31)
        self.assertEqual(
            [f["path"] for f in meta.source["files"]],
            [os.path.abspath(p) for p in paths],
        )

    def test_given_split(self) -> None:
        names = {}
        for i, split in enumerate(["train", "valid", "test"]):
            names[split] = os.path.join(self.dir, f"{split}.txt")
            write_criteo_tsv(names[split], 30 + i, seed=i)
        meta = run(
            [], os.path.join(self.dir, "out"), kind="given", min_count=1, **names
        ).metadata
        self.assertEqual(
            {k: v.rows for k, v in meta.splits.items()},
            {"train": 30, "valid": 31, "test": 32},
        )

    def test_split_option_errors(self) -> None:
        out = os.path.join(self.dir, "out")
        path = os.path.join(self.dir, "t.txt")
        write_criteo_tsv(path, 5)
        with self.assertRaisesRegex(
            PreparationError, "a given split needs --train and --test"
        ):
            run([], out, kind="given", train=path)
        with self.assertRaisesRegex(
            PreparationError, "a random split needs input files"
        ):
            run([], out)
        with self.assertRaisesRegex(PreparationError, "given twice"):
            run([path, path], out)
        with self.assertRaisesRegex(PreparationError, "either min_count or hash_size"):
            run([path], out, min_count=3, hash_size=10)


class CriteoBadInputTest(unittest.TestCase):
    """Each kind of malformed row: the exact error, or the exact skip counts."""

    GOOD = "0\t1\t\t-1\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13\t" + "\t".join(
        ["05db9164", ""] * 13
    )

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.path = os.path.join(self.dir, "train.txt")
        self.out = os.path.join(self.dir, "out")

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def with_line(self, line: str, at: int = 2, **write) -> str:  # pyre-ignore[2]
        lines = [self.GOOD] * 4
        lines[at - 1] = line
        return write_text(self.path, lines, **write)

    def error(self, **options) -> str:  # pyre-ignore[2]
        with self.assertRaises(BadRowError) as ctx:
            run([self.path], self.out, **options)
        self.assertFalse(os.path.exists(self.out))
        self.assertEqual(
            os.listdir(self.dir), ["train.txt"]
        )  # no temporary left behind
        return str(ctx.exception)

    def replaced(self, index: int, value: str) -> str:
        fields = self.GOOD.split("\t")
        fields[index] = value
        return "\t".join(fields)

    def test_wrong_number_of_fields(self) -> None:
        self.with_line(self.GOOD + "\t1")
        self.assertEqual(self.error(), f"expected 40 fields, found 41 ({self.path}:2)")

    def test_not_a_number(self) -> None:
        self.with_line(self.replaced(5, "abc"), at=3)
        self.assertEqual(
            self.error(), f"'abc' is not a number ({self.path}:3, field I5)"
        )

    def test_bad_label(self) -> None:
        self.with_line(self.replaced(0, "2"))
        self.assertEqual(
            self.error(),
            f"'2' is not a label (expected 0, 1) ({self.path}:2, field label)",
        )

    def test_empty_line(self) -> None:
        self.with_line("", at=3)
        self.assertEqual(self.error(), f"empty line ({self.path}:3)")

    def test_invalid_utf8(self) -> None:
        lines = [self.GOOD.encode()] * 3
        lines[1] = self.replaced(2, "1").encode().replace(b"\t1\t", b"\t\xff1\t", 1)
        with open(self.path, "wb") as f:
            f.write(b"\n".join(lines) + b"\n")
        self.assertEqual(
            self.error(), f"invalid UTF-8 in '\\\\xff1' ({self.path}:2, field I1)"
        )

    def test_not_a_hex_hash(self) -> None:
        self.with_line(self.replaced(20, "hello"))
        self.assertEqual(
            self.error(),
            f"'hello' is not an 8-digit hex hash ({self.path}:2, field C7)",
        )

    def test_truncated_last_line(self) -> None:
        self.with_line(self.GOOD[:60], at=4, final_newline=False)
        self.assertEqual(self.error(), f"expected 40 fields, found 19 ({self.path}:4)")
        cut_in_hash = self.replaced(39, "0b153874")[:-3]  # ends inside the last field
        self.with_line(cut_in_hash, at=4, final_newline=False)
        self.assertEqual(
            self.error(),
            f"'0b153' is not an 8-digit hex hash ({self.path}:4, field C26)",
        )

    def test_first_bad_row_wins_in_error_mode(self) -> None:
        lines = [self.GOOD, self.replaced(0, "x"), self.replaced(3, "y")]
        write_text(self.path, lines)
        self.assertEqual(
            self.error(),
            f"'x' is not a label (expected 0, 1) ({self.path}:2, field label)",
        )

    def test_skip_counts_per_reason(self) -> None:
        lines = [self.GOOD] * 10
        lines[1] = self.replaced(0, "2")
        lines[3] = ""
        lines[4] = self.replaced(13, "1.5.1")
        lines[6] = self.GOOD + "\tx"
        lines[7] = self.replaced(0, "-1")
        write_text(self.path, lines)
        result = run(
            [self.path],
            self.out,
            on_bad_row="skip",
            ratios=(1.0, 0.0, 0.0),
            min_count=1,
        )
        expected = {
            "bad label": 2,
            "empty line": 1,
            "not a number": 1,
            "wrong number of fields": 1,
        }
        self.assertEqual(result.bad_rows.counts_by_reason(), expected)
        meta = result.metadata
        self.assertEqual(meta.source["bad_rows"], expected)
        self.assertEqual(meta.options["bad_rows"], expected)
        self.assertEqual(meta.splits["train"].rows, 5)
        self.assertEqual(
            meta.source["bad_row_examples"],
            [
                f"'2' is not a label (expected 0, 1) ({self.path}:2, field label)",
                f"empty line ({self.path}:4)",
                f"'1.5.1' is not a number ({self.path}:5, field I13)",
                f"expected 40 fields, found 41 ({self.path}:7)",
                f"'-1' is not a label (expected 0, 1) ({self.path}:8, field label)",
            ],
        )

    def test_skip_keeps_line_numbers_and_random_split_exact(self) -> None:
        write_criteo_tsv(self.path, 400, seed=9)
        with open(self.path) as f:
            lines = f.read().split("\n")[:-1]
        clean = run([self.path], self.out, seed=4, min_count=1)
        for i in (0, 57, 58, 399):
            lines[i] = "junk"
        write_text(self.path, lines)
        broken = os.path.join(self.dir, "broken")
        result = run([self.path], broken, seed=4, min_count=1, on_bad_row="skip")
        self.assertEqual(
            result.bad_rows.counts_by_reason(), {"wrong number of fields": 4}
        )
        self.assertEqual([r.line for r in result.bad_rows.examples], [1, 58, 59, 400])
        # Every good row keeps its split: the bad rows are simply missing.
        splits = np.searchsorted(
            [0.8, 0.9], row_uniforms(4, np.arange(400)), side="right"
        )
        for code, name in enumerate(["train", "valid", "test"]):
            missing = sum(1 for i in (0, 57, 58, 399) if splits[i] == code)
            self.assertEqual(
                read_split(broken, name).num_rows,
                clean.metadata.splits[name].rows - missing,
            )

    def test_missing_and_empty_inputs(self) -> None:
        with self.assertRaises(PreparationError) as ctx:
            run([os.path.join(self.dir, "nope.txt")], self.out)
        self.assertEqual(
            str(ctx.exception),
            f"{os.path.join(self.dir, 'nope.txt')}: input file does not exist",
        )
        write_text(self.path, [], final_newline=False)
        with self.assertRaises(PreparationError) as ctx:
            run([self.path], self.out)
        self.assertEqual(str(ctx.exception), f"{self.path}: input file is empty")

    def test_all_rows_bad(self) -> None:
        write_text(self.path, ["a,b,c"] * 3)
        with self.assertRaises(PreparationError) as ctx:
            run([self.path], self.out, on_bad_row="skip")
        self.assertEqual(
            str(ctx.exception),
            f"input file {self.path}: no good rows: all 3 of its 3 lines are bad rows, "
            "skipped with --on_bad_row skip (first: expected 40 fields, found 1 "
            f"({self.path}:1))",
        )


integers = st.one_of(st.just(""), st.integers(-3, 10**6).map(str))
hashes = st.one_of(st.just(""), st.integers(0, 2**32 - 1).map(lambda v: f"{v:08x}"))
criteo_rows = st.lists(
    st.tuples(
        st.sampled_from(["0", "1"]),
        st.lists(integers, min_size=13, max_size=13),
        st.lists(hashes, min_size=26, max_size=26),
    ),
    min_size=1,
    max_size=30,
)


class CriteoPropertyTest(unittest.TestCase):
    """Random valid Criteo rows read back equal; one corrupted row is named at its line."""

    @settings(max_examples=20, deadline=None)
    @given(
        criteo_rows,
        st.sampled_from(["\n", "\r\n"]),
        st.booleans(),
        st.integers(0, 100),
        st.integers(0, 38),
    )
    def test_round_trip_and_corruption(
        self, rows, eol, final_newline, corrupt, field
    ) -> None:  # pyre-ignore[2]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "day_0.gz" if final_newline else "day_0")
            lines = ["\t".join([label] + ints + cats) for label, ints, cats in rows]
            body = (eol.join(lines) + (eol if final_newline else "")).encode()
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "wb") as f:
                f.write(body)
            out = os.path.join(d, "out")
            run([path], out, ratios=(1.0, 0.0, 0.0), min_count=1)
            table = read_split(out, "train")
            self.assertEqual(column(table, "label"), [int(r[0]) for r in rows])
            for j in range(13):
                expected = [math.log1p(max(float(r[1][j] or 0), 0.0)) for r in rows]
                np.testing.assert_allclose(
                    column(table, f"I{j + 1}"), expected, rtol=1e-6
                )
            for j in range(26):
                vocab = vocabulary(r[2][j] for r in rows)
                self.assertEqual(
                    column(table, f"C{j + 1}"), [vocab[r[2][j]] for r in rows]
                )
            bad = corrupt % len(rows)
            fields = lines[bad].split("\t")
            fields[1 + field] = "zz"
            lines[bad] = "\t".join(fields)
            body = (eol.join(lines) + (eol if final_newline else "")).encode()
            with opener(path, "wb") as f:
                f.write(body)
            with self.assertRaises(BadRowError) as ctx:
                run([path], out, ratios=(1.0, 0.0, 0.0), min_count=1)
            name = f"I{field + 1}" if field < 13 else f"C{field - 12}"
            problem = "is not a number" if field < 13 else "is not an 8-digit hex hash"
            self.assertEqual(
                str(ctx.exception), f"'zz' {problem} ({path}:{bad + 1}, field {name})"
            )


class WriteCriteoTsvTest(unittest.TestCase):
    def test_exact_format(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "train.txt")
            write_criteo_tsv(path, 2000, seed=3)
            with open(path, "rb") as f:
                data = f.read()
            self.assertTrue(data.endswith(b"\n"))
            self.assertNotIn(b"\r", data)
            lines = data.decode().split("\n")[:-1]
            self.assertEqual(len(lines), 2000)
            fields = [line.split("\t") for line in lines]
            self.assertTrue(all(len(f) == 40 for f in fields))
            self.assertEqual({f[0] for f in fields}, {"0", "1"})
            integers = [v for f in fields for v in f[1:14]]
            self.assertTrue(all(re.fullmatch(r"-?[0-9]+|", v) for v in integers))
            self.assertIn("", integers)
            self.assertTrue(any(v.startswith("-") for v in integers))
            hashes = [v for f in fields for v in f[14:]]
            self.assertTrue(all(re.fullmatch(r"[0-9a-f]{8}|", v) for v in hashes))
            self.assertIn("", hashes)

    def test_deterministic_and_line_endings(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            a, b, c = (os.path.join(d, n) for n in "abc")
            write_criteo_tsv(a, 300, seed=1)
            write_criteo_tsv(b, 300, seed=1, line_ending="\r\n", final_newline=False)
            write_criteo_tsv(c, 300, seed=2)
            with open(a, "rb") as fa, open(b, "rb") as fb, open(c, "rb") as fc:
                da, db, dc = fa.read(), fb.read(), fc.read()
            self.assertEqual(da, db.replace(b"\r\n", b"\n") + b"\n")
            self.assertNotEqual(da, dc)
