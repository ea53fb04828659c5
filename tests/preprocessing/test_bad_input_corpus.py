"""Hostile input for ``datasets/prepare.py``: a corpus of bad files and flags, each with
its exact expected outcome.

Every case writes its (small) files into a fresh directory, runs the real command as a
subprocess (``python datasets/prepare.py ...`` from a repository root) and checks:

* the exit status and the exact stderr (one ``error:`` line naming the file, line,
  field or flag; a regex when part of it is not ours, e.g. a library's wording), or
  on success the exact lines expected in the summary (e.g. a counted skip);
* no traceback, ever;
* nothing that was there before changed: every file's path and bytes under the case's
  directory are hashed before and after (the output written on success excluded).

The cases are a table (`CASES`), so the same corpus runs against any checkout::

    python -m tests.preprocessing.test_bad_input_corpus --table             # this one
    python tests/preprocessing/test_bad_input_corpus.py --table --repo OLD  # another
    python tests/preprocessing/test_bad_input_corpus.py --compare OLD NEW --markdown t.md
"""

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTPUT = "out"
TIMEOUT_S = 120

# A file maker: writes a case's inputs into its directory.
Maker = Callable[[str], None]
# A check of a successful output: None if fine, else what is wrong.
Check = Callable[[str], Optional[str]]


@dataclass
class Case:
    """
    One hostile input and what ``prepare.py`` must do with it.

    Args:
        name (str): short id (the table's first column).
        item (str): which item of the report it covers ("1".."9", "other").
        make (Maker): writes the inputs into the case's directory.
        argv (List[str]): arguments of ``prepare.py``; ``{d}`` is the case's directory.
        status (int): expected exit status.
        stderr (Optional[str]): the exact expected stderr line ("re:" prefix: a regex
            that must match the whole line); None: stderr must be empty (but warnings
            listed in ``warnings``).
        stdout (Sequence[str]): lines that must appear in stdout, exactly.
        warnings (Sequence[str]): on success, the exact stderr lines.
        check (Optional[Check]): more checks of a successful output directory.
        kill (Optional[int]): send this signal once a temporary beside the output
            appears (the preparation is then mid-way), instead of waiting for the end.
        rerun (Optional[List[str]]): after a kill, run this command (same placeholders),
            which must succeed and leave no temporary of the killed run.
    """

    name: str
    item: str
    make: Maker
    argv: List[str]
    status: int
    stderr: Optional[str] = None
    stdout: Sequence[str] = ()
    warnings: Sequence[str] = ()
    check: Optional[Check] = None
    kill: Optional[int] = None
    rerun: Optional[List[str]] = None


@dataclass
class Outcome:
    """What one case did, and what was wrong with it (``problems`` empty: as expected)."""

    status: Optional[int]
    stdout: str
    stderr: str
    problems: List[str] = field(default_factory=list)

    @property
    def first_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[0] if lines else ""


# Writing the inputs.


def _write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def files(**contents: bytes) -> Maker:
    """A maker of files named by keyword: ``train_csv`` -> ``train.csv``, ``out__a_csv``
    -> ``out/a.csv``."""

    def make(d: str) -> None:
        for key, data in contents.items():
            _write(os.path.join(d, key.replace("__", "/").replace("_", ".")), data)

    return make


def both(*makers: Maker) -> Maker:
    def make(d: str) -> None:
        for m in makers:
            m(d)

    return make


def lines(*rows: str, eol: str = "\n") -> bytes:
    """Rows joined by ``eol``; ``\\udcXX`` (surrogate escapes) write the raw byte XX."""
    return (eol.join(rows) + eol).encode("utf-8", "surrogateescape")


# A small BARS file: label and two categorical columns, and a numeric one.
BARS = ["label,c1,c2", "1,a,x", "0,b,y", "1,a,y", "0,c,x", "1,b,x", "0,a,y"]
BARS_NUMERIC = ["label,n,c", "1,3,a", "0,5,b", "1,7,a", "0,2,b", "1,1,a", "0,4,b"]


def bars(*replaced: str, base: Sequence[str] = BARS, at: int = 2) -> bytes:
    """The BARS file with lines from line ``at`` on replaced."""
    rows = list(base)
    for i, row in enumerate(replaced):
        rows[at - 1 + i] = row
    return lines(*rows)


def bars_args(
    train: str = "train.csv", test: str = "test.csv", *more: str
) -> List[str]:
    return [
        "bars",
        "--train",
        f"{{d}}/{train}",
        "--test",
        f"{{d}}/{test}",
        "--valid_from_train",
        "0.3",
        "--output",
        f"{{d}}/{OUTPUT}",
        "--checksum",
        "none",
        *more,
    ]


def criteo_row(i: int, **fields: str) -> str:
    values = [str(i % 2)] + [str(i % 7 + j) for j in range(13)]
    values += [f"{(i * 2654435761 + j * 40503) % 2**32:08x}"[:8] for j in range(26)]
    names = (
        ["label"] + [f"I{j}" for j in range(1, 14)] + [f"C{j}" for j in range(1, 27)]
    )
    for name, value in fields.items():
        values[names.index(name)] = value
    return "\t".join(values)


def criteo_file(rows: int, **bad: Dict[str, str]) -> bytes:
    """``rows`` Criteo rows; ``bad={"l5": {"I1": "x"}}`` changes fields of line 5."""
    out = []
    for i in range(rows):
        out.append(criteo_row(i, **bad.get(f"l{i + 1}", {})))
    return lines(*out)


def big_criteo(path: str, rows: int) -> None:
    """A Criteo file large enough to be mid-way when a signal comes (1000 rows repeated)."""
    chunk = lines(*[criteo_row(i) for i in range(1000)])
    with open(path, "wb") as f:
        for _ in range(rows // 1000):
            f.write(chunk)


def symlink(target: str, name: str) -> Maker:
    def make(d: str) -> None:
        os.symlink(os.path.join(d, target), os.path.join(d, name))

    return make


def hardlink(target: str, name: str) -> Maker:
    def make(d: str) -> None:
        os.link(os.path.join(d, target), os.path.join(d, name))

    return make


def directory(name: str, *entries: str) -> Maker:
    def make(d: str) -> None:
        os.makedirs(os.path.join(d, name), exist_ok=True)
        for entry in entries:
            _write(os.path.join(d, name, entry), b"keep me\n")

    return make


def gz(name: str, data: bytes) -> Maker:
    def make(d: str) -> None:
        _write(os.path.join(d, name), data)

    return make


LIBFM = lines("1 1:1 4:1", "0 2:1 5:1", "1 3:1 4:1", "0 1:1 6:1", "1 2:1 5:1")


# Checks of successful outputs (they read Parquet/JSON with pyarrow, imported here only).


def vocabulary_values(out: str, field_name: str) -> List[str]:
    import pyarrow.parquet as pq

    with open(os.path.join(out, "metadata.json")) as f:
        meta = json.load(f)
    relative = meta["options"]["vocabulary_files"][field_name]
    return pq.read_table(os.path.join(out, relative)).column("value").to_pylist()


def vocabulary_is(field_name: str, expected: List[str]) -> Check:
    def check(out: str) -> Optional[str]:
        found = sorted(vocabulary_values(out, field_name))
        if found != sorted(expected):
            return f"vocabulary of {field_name} is {found}, expected {sorted(expected)}"
        return None

    return check


def numeric_range_is(field_name: str, lo: float, hi: float) -> Check:
    def check(out: str) -> Optional[str]:
        with open(os.path.join(out, "metadata.json")) as f:
            ranges = json.load(f)["options"].get("numeric_ranges")
        if not ranges or ranges.get(field_name) != {"min": lo, "max": hi}:
            return f"numeric_ranges is {ranges}, expected {field_name}: [{lo}, {hi}]"
        return None

    return check


def help_shows(*needles: str) -> Check:
    # A --help case has no output directory: the check gets the stdout instead.
    def check(stdout: str) -> Optional[str]:
        text = " ".join(stdout.split())
        missing = [n for n in needles if n not in text]
        return f"--help does not show {missing}" if missing else None

    return check


SAME = "are the same file (an input given twice)"
ROWS_LINE = "  {n} x {reason}"

CASES: List[Case] = [
    # 1. Numbers beyond float32.
    Case(
        "float32_overflow_none",
        "1",
        files(
            train_csv=bars("1,1e39,a", base=BARS_NUMERIC),
            test_csv=bars(base=BARS_NUMERIC),
        ),
        bars_args() + ["--numeric_columns", "n", "--numeric", "none"],
        2,
        "error: '1e39' is out of range (stored as float32, |x| <= 3.403e+38) "
        "({d}/train.csv:2, field n)",
    ),
    Case(
        "float32_overflow_log_criteo",
        "1",
        files(train_txt=criteo_file(40, l3={"I5": "1e300"})),
        ["criteo", "{d}/train.txt", "--output", "{d}/out", "--min_count", "1"],
        2,
        "error: '1e300' is out of range (stored as float32, |x| <= 3.403e+38) "
        "({d}/train.txt:3, field I5)",
    ),
    Case(
        "float32_overflow_skipped",
        "1",
        files(
            train_csv=bars("1,-1e39,a", base=BARS_NUMERIC),
            test_csv=bars(base=BARS_NUMERIC),
        ),
        bars_args() + ["--numeric_columns", "n", "--on_bad_row", "skip"],
        0,
        stdout=["skipped 1 bad rows:", "  1 x number out of range"],
    ),
    # 2. One file given twice under another name.
    Case(
        "same_file_dot_path",
        "2",
        files(train_csv=lines(*BARS)),
        bars_args("train.csv", "./train.csv"),
        2,
        f"error: --train {{d}}/train.csv and --test {{d}}/./train.csv {SAME}",
    ),
    Case(
        "same_file_symlink",
        "2",
        both(files(train_csv=lines(*BARS)), symlink("train.csv", "test.csv")),
        bars_args(),
        2,
        f"error: --train {{d}}/train.csv and --test {{d}}/test.csv {SAME}",
    ),
    Case(
        "same_file_hardlink",
        "2",
        both(files(train_csv=lines(*BARS)), hardlink("train.csv", "test.csv")),
        bars_args(),
        2,
        f"error: --train {{d}}/train.csv and --test {{d}}/test.csv {SAME}",
    ),
    Case(
        "same_contents_copy",
        "2",
        files(train_csv=lines(*BARS), test_csv=lines(*BARS)),
        [a for a in bars_args() if a not in ("--checksum", "none")],
        2,
        r"re:error: --train \S+/train\.csv and --test \S+/test\.csv have the same contents "
        r"\(sha256 [0-9a-f]{16}\.\.\.\): the same data given twice",
    ),
    # 3. Quoting.
    Case(
        "quoted_delimiter_shifts_fields",
        "3",
        files(train_csv=bars('1,"a,x"'), test_csv=lines(*BARS)),
        bars_args(),
        2,
        "error: expected 3 fields, found 2 ({d}/train.csv:2)",
    ),
    Case(
        "quoted_value_is_unquoted",
        "3",
        files(
            train_csv=bars('1,"a",x', '0,"b,c",y'),
            valid_csv=lines(*BARS[:3]),
            test_csv=lines(*BARS[:4]),
        ),
        [
            "bars",
            "--train",
            "{d}/train.csv",
            "--valid",
            "{d}/valid.csv",
            "--test",
            "{d}/test.csv",
            "--output",
            "{d}/out",
        ],
        0,
        stdout=["  train: 6 rows, 3 positive (50.00%)"],
        check=vocabulary_is("c1", ["a", "b", "b,c", "c"]),
    ),
    Case(
        "unterminated_quote",
        "3",
        files(train_csv=bars('1,a,"x', "0,b,y"), test_csv=lines(*BARS)),
        bars_args(),
        2,
        "error: a quoted value must close on its line and be followed by ',' or the line end "
        "({d}/train.csv:2, field c2)",
    ),
    Case(
        "text_after_closing_quote",
        "3",
        files(train_csv=bars('1,"a"b,x'), test_csv=lines(*BARS)),
        bars_args() + ["--on_bad_row", "skip"],
        0,
        stdout=["  1 x bad quoting"],
    ),
    Case(
        "criteo_quote_is_plain",
        "3",
        files(train_txt=criteo_file(40, l4={"C3": '"0a1b2c"'})),
        ["criteo", "{d}/train.txt", "--output", "{d}/out"],
        2,
        "error: '\"0a1b2c\"' is not an 8-digit hex hash ({d}/train.txt:4, field C3)",
    ),
    # 4. Empty splits.
    Case(
        "ratios_zero_share",
        "4",
        files(train_txt=criteo_file(40)),
        ["criteo", "{d}/train.txt", "--ratios", "0,1,1", "--output", "{d}/out"],
        2,
        "error: argument --ratios: ratios must be three positive numbers like 8,1,1 "
        "(train,valid,test; every split needs rows), got '0,1,1' (see prepare.py criteo --help)",
    ),
    Case(
        "valid_file_all_rows_skipped",
        "4",
        files(
            train_csv=lines(*BARS),
            valid_csv=lines("label,c1,c2", "7,a,x", "1,b"),
            test_csv=lines(*BARS[:4]),
        ),
        [
            "bars",
            "--train",
            "{d}/train.csv",
            "--valid",
            "{d}/valid.csv",
            "--test",
            "{d}/test.csv",
            "--on_bad_row",
            "skip",
            "--output",
            "{d}/out",
        ],
        2,
        "error: --valid {d}/valid.csv (the valid split): no good rows: all 2 of its 2 lines "
        "are bad rows, skipped with --on_bad_row skip (first: '7' is not a label (expected 0, 1) "
        "({d}/valid.csv:2, field label))",
    ),
    Case(
        "valid_from_train_gives_none",
        "4",
        files(train_csv=lines(*BARS), test_csv=lines(*BARS[:3])),
        [a if a != "0.3" else "0.001" for a in bars_args()],
        2,
        "error: the valid split has no rows: --valid_from_train 0.001 of the train file's "
        "rows gave none; use a larger share or a --valid file",
    ),
    Case(
        "random_split_too_few_rows",
        "4",
        files(train_txt=criteo_file(3)),
        ["criteo", "{d}/train.txt", "--output", "{d}/out", "--min_count", "1"],
        2,
        "error: the test split has no rows: the random split gives it 0.1 of the 3 good "
        "rows and none fell there; use more rows or a larger share in --ratios",
    ),
    # 5. NUL bytes.
    Case(
        "nul_in_categorical",
        "5",
        files(train_csv=bars("1,a\0b,x"), test_csv=lines(*BARS)),
        bars_args(),
        2,
        "error: 'a\\x00b' holds a NUL byte ({d}/train.csv:2, field c1)",
    ),
    Case(
        "nul_in_libfm_token",
        "5",
        files(train_txt=LIBFM.replace(b"0 2:1", b"0 2:\0", 1), test_txt=LIBFM),
        [
            "libfm",
            "--train",
            "{d}/train.txt",
            "--test",
            "{d}/test.txt",
            "--valid_from_train",
            "0.3",
            "--field_ranges",
            "1-3,4-6",
            "--output",
            "{d}/out",
        ],
        2,
        "error: feature 2 has value '\\x00', a one-hot feature needs 1 "
        "({d}/train.txt:2, field C1)",
    ),
    # 6. Signals.
    Case(
        "sigterm_mid_preparation",
        "6",
        lambda d: big_criteo(os.path.join(d, "big.txt"), 150_000),
        [
            "criteo",
            "{d}/big.txt",
            "--output",
            "{d}/out",
            "--block_size",
            "4096",
            "--spill",
            "on",
            "--checksum",
            "none",
        ],
        143,
        "error: terminated (SIGTERM); temporary files removed",
        kill=signal.SIGTERM,
    ),
    Case(
        "sigkill_then_next_run_cleans",
        "6",
        both(
            lambda d: big_criteo(os.path.join(d, "big.txt"), 150_000),
            files(small_txt=criteo_file(60)),
        ),
        [
            "criteo",
            "{d}/big.txt",
            "--output",
            "{d}/out",
            "--block_size",
            "4096",
            "--spill",
            "on",
            "--checksum",
            "none",
        ],
        -signal.SIGKILL,
        None,
        kill=signal.SIGKILL,
        rerun=["criteo", "{d}/small.txt", "--output", "{d}/out", "--min_count", "1"],
    ),
    # 7. Invalid UTF-8 in a wrong-count row; CR line endings.
    Case(
        "skip_wrong_count_invalid_utf8",
        "7",
        files(train_csv=bars("1,a,x", "0,\udcff\udcfe,y,z"), test_csv=lines(*BARS)),
        bars_args() + ["--on_bad_row", "skip"],
        0,
        stdout=[
            "  1 x wrong number of fields",
            "  expected 3 fields, found 4 ({d}/train.csv:3)",
        ],
    ),
    Case(
        "wrong_count_invalid_utf8",
        "7",
        files(train_csv=bars("1,a,x", "0,\udcff\udcfe,y,z"), test_csv=lines(*BARS)),
        bars_args(),
        2,
        "error: expected 3 fields, found 4 ({d}/train.csv:3)",
    ),
    Case(
        "cr_only_line_endings",
        "7",
        files(train_csv=lines(*BARS, eol="\r"), test_csv=lines(*BARS)),
        bars_args(),
        2,
        "error: {d}/train.csv: CR-only line endings (old Mac style) are not supported; "
        "convert the file with tr '\\r' '\\n' < {d}/train.csv > converted",
    ),
    Case(
        "stray_cr_inside_line",
        "7",
        files(train_csv=bars("1,a\rb,x"), test_csv=lines(*BARS)),
        bars_args(),
        2,
        "error: a carriage return inside the line (only LF and CRLF line endings are read) "
        "({d}/train.csv:2)",
    ),
    # 8. One line, exit status 2, never a traceback.
    Case(
        "missing_input",
        "8",
        files(test_csv=lines(*BARS)),
        bars_args(),
        2,
        "error: {d}/train.csv: input file does not exist",
    ),
    Case(
        "bad_flag_value",
        "8",
        files(train_txt=criteo_file(40)),
        ["criteo", "{d}/train.txt", "--block_size", "big", "--output", "{d}/out"],
        2,
        "error: argument --block_size: invalid int value: 'big' (see prepare.py criteo --help)",
    ),
    Case(
        "missing_required_flag",
        "8",
        files(train_txt=criteo_file(40)),
        ["criteo", "{d}/train.txt"],
        2,
        "error: the following arguments are required: --output (see prepare.py criteo --help)",
    ),
    Case(
        "corrupt_gzip",
        "8",
        gz("train.txt.gz", b"\x1f\x8b\x08\x00" + b"\x13\x37" * 100),
        ["criteo", "{d}/train.txt.gz", "--output", "{d}/out"],
        2,
        r"re:error: \S+/train\.txt\.gz: cannot read it at or after line 1 \(.+\)",
    ),
    Case(
        "schema_not_utf8",
        "8",
        files(schema_json=b'{"label": "\xff"}', train_csv=lines(*BARS)),
        ["csv", "--schema", "{d}/schema.json", "{d}/train.csv", "--output", "{d}/out"],
        2,
        r"re:error: \S+/schema\.json: not valid UTF-8 \(.+\)",
    ),
    # 9. Numeric transforms and scales.
    Case(
        "bars_numeric_without_columns",
        "9",
        files(train_csv=lines(*BARS), test_csv=lines(*BARS)),
        bars_args() + ["--numeric", "log"],
        2,
        "error: --numeric log needs --numeric_columns: without them every column is "
        "categorical and the transform applies to nothing",
    ),
    Case(
        "libfm_numeric_without_fields",
        "9",
        files(train_txt=LIBFM, test_txt=lines("1 1:1 5:1", "0 3:1 6:1")),
        [
            "libfm",
            "--train",
            "{d}/train.txt",
            "--test",
            "{d}/test.txt",
            "--valid_from_train",
            "0.3",
            "--field_ranges",
            "1-3,4-6",
            "--numeric",
            "log",
            "--output",
            "{d}/out",
        ],
        2,
        "error: --numeric log needs --numeric_fields: without them every field is "
        "categorical and the transform applies to nothing",
    ),
    Case(
        "large_untransformed_numeric_warns",
        "9",
        files(
            train_csv=bars("1,1500000,a", base=BARS_NUMERIC),
            test_csv=bars(base=BARS_NUMERIC),
        ),
        bars_args() + ["--numeric_columns", "n"],
        0,
        warnings=[
            "warning: numeric field n reaches 1.5e+06 untransformed; consider --numeric log"
        ],
        check=numeric_range_is("n", 1.0, 1500000.0),
    ),
    Case(
        "help_shows_defaults",
        "9",
        files(),
        ["bars", "--help"],
        0,
        check=help_shows("(default: 8,1,1)", "(default: 4194304)", "(default: error)"),
    ),
    # Others.
    Case(
        "wrong_field_count",
        "other",
        files(train_csv=bars("1,a,x", "0,b"), test_csv=lines(*BARS)),
        bars_args(),
        2,
        "error: expected 3 fields, found 2 ({d}/train.csv:3)",
    ),
    Case(
        "bad_label",
        "other",
        files(train_csv=bars("2,a,x"), test_csv=lines(*BARS)),
        bars_args(),
        2,
        "error: '2' is not a label (expected 0, 1) ({d}/train.csv:2, field label)",
    ),
    Case(
        "empty_file",
        "other",
        files(train_csv=b"", test_csv=lines(*BARS)),
        bars_args(),
        2,
        "error: {d}/train.csv: input file is empty",
    ),
    Case(
        "header_only",
        "other",
        files(train_csv=lines(BARS[0]), test_csv=lines(*BARS)),
        bars_args(),
        2,
        "error: {d}/train.csv: has a header but no rows",
    ),
    Case(
        "input_is_a_directory",
        "other",
        both(directory("train.csv"), files(test_csv=lines(*BARS))),
        bars_args(),
        2,
        "error: {d}/train.csv: input file is not a regular file",
    ),
    Case(
        "output_is_a_foreign_directory",
        "other",
        both(
            directory(OUTPUT, "notes.txt"),
            files(train_csv=lines(*BARS), test_csv=lines(*BARS[:4])),
        ),
        bars_args(),
        2,
        "error: --output {d}/out: a non-empty directory this command did not write; refusing "
        "to replace it (choose another path or pass --overwrite)",
    ),
    Case(
        "output_holds_an_input",
        "other",
        files(out__train_csv=lines(*BARS), test_csv=lines(*BARS[:4])),
        [a.replace("{d}/train.csv", "{d}/out/train.csv") for a in bars_args()],
        2,
        "error: --output {d}/out: the output would replace the input {d}/out/train.csv",
    ),
    Case(
        "output_is_a_file",
        "other",
        files(out=b"precious\n", train_csv=lines(*BARS), test_csv=lines(*BARS[:4])),
        bars_args(),
        2,
        "error: --output {d}/out: exists and is not a directory",
    ),
    Case(
        "header_differs",
        "other",
        files(train_csv=lines(*BARS), test_csv=lines("label,c1,c3", "1,a,x")),
        bars_args(),
        2,
        "error: {d}/test.csv: the header differs from {d}/train.csv's: missing ['c2'], "
        "unexpected ['c3']",
    ),
    Case(
        "libfm_unknown_index",
        "other",
        files(train_txt=LIBFM.replace(b"0 2:1 5:1", b"0 2:1 9:1"), test_txt=LIBFM),
        [
            "libfm",
            "--train",
            "{d}/train.txt",
            "--test",
            "{d}/test.txt",
            "--valid_from_train",
            "0.3",
            "--field_ranges",
            "1-3,4-6",
            "--output",
            "{d}/out",
        ],
        2,
        "error: token 2: feature index 9 belongs to no field ({d}/train.txt:2)",
    ),
    Case(
        "vocabulary_from_missing",
        "other",
        files(train_txt=criteo_file(40)),
        [
            "criteo",
            "{d}/train.txt",
            "--vocabulary_from",
            "{d}/nope",
            "--output",
            "{d}/out",
        ],
        2,
        "error: --vocabulary_from {d}/nope: no such directory",
    ),
]

# Running the cases.


def tree_digest(root: str, exclude: Sequence[str] = ()) -> Dict[str, str]:
    """sha256 of every file (and link target) under ``root`` by relative path."""
    out: Dict[str, str] = {}
    skip = {os.path.join(root, e) for e in exclude}
    for parent, dirs, names in os.walk(root):
        dirs[:] = sorted(x for x in dirs if os.path.join(parent, x) not in skip)
        for name in sorted(names):
            path = os.path.join(parent, name)
            if path in skip:
                continue
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = "link:" + os.readlink(path)
            else:
                with open(path, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
        for name in dirs:
            out.setdefault(
                os.path.relpath(os.path.join(parent, name), root) + "/", "dir"
            )
    return out


def temporaries(d: str) -> List[str]:
    """Hidden siblings of the output (spill files, temporary datasets)."""
    return sorted(glob.glob(os.path.join(d, f".{OUTPUT}.*")))


def _fill(text: str, d: str) -> str:
    return text.replace("{d}", d)


def _command(repo: str, argv: Sequence[str], d: str) -> List[str]:
    return [sys.executable, os.path.join(repo, "datasets", "prepare.py")] + [
        _fill(a, d) for a in argv
    ]


def _environment() -> Dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _line_matches(expected: str, line: str, d: str) -> bool:
    if expected.startswith("re:"):
        return re.fullmatch(expected[3:], line) is not None
    return line == _fill(expected, d)


def run_case(case: Case, repo: str, d: str) -> Outcome:
    """Runs one case in the (empty) directory ``d`` against the checkout ``repo``."""
    case.make(d)
    before = tree_digest(d)
    command = _command(repo, case.argv, d)
    if case.kill is None:
        done = subprocess.run(
            command,
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env=_environment(),
            errors="backslashreplace",
        )
        outcome = Outcome(done.returncode, done.stdout, done.stderr)
    else:
        outcome = _run_killed(case, command, repo, d)
    problems = outcome.problems
    if outcome.status != case.status:
        problems.append(f"exit status {outcome.status}, expected {case.status}")
    if "Traceback" in outcome.stderr:
        problems.append("a traceback")
    stderr = [line for line in outcome.stderr.splitlines() if line.strip()]
    if case.stderr is not None:
        if len(stderr) != 1 or not _line_matches(case.stderr, stderr[0], d):
            problems.append(
                f"stderr {stderr[:3]}, expected [{_fill(case.stderr, d)!r}]"
            )
    elif case.kill is None and stderr != [_fill(w, d) for w in case.warnings]:
        problems.append(f"stderr {stderr[:3]}, expected {list(case.warnings)}")
    stdout = outcome.stdout.splitlines()
    for expected in case.stdout:
        if _fill(expected, d) not in stdout:
            problems.append(f"stdout lacks {_fill(expected, d)!r}")
    succeeded = outcome.status == 0 and case.kill is None
    out = os.path.join(d, OUTPUT)
    if case.check is not None and succeeded:
        if case.argv[-1] == "--help":
            problem = case.check(outcome.stdout)
        else:
            try:
                problem = case.check(out)
            except Exception as e:  # an output the check cannot read is wrong
                problem = f"output does not read: {e!r}"
        if problem is not None:
            problems.append(problem)
    wrote_output = succeeded or case.rerun is not None
    after = tree_digest(d, exclude=[OUTPUT] if wrote_output else [])
    if wrote_output:
        before = {
            k: v
            for k, v in before.items()
            if not k.startswith(OUTPUT + "/") and k != OUTPUT
        }
    if after != before:
        changed = sorted(
            k for k in set(before) | set(after) if before.get(k) != after.get(k)
        )
        problems.append(f"files changed: {changed[:4]}")
    return outcome


def _run_killed(case: Case, command: List[str], repo: str, d: str) -> Outcome:
    """Starts the command, signals it once a temporary appears, then checks what is left."""
    process = subprocess.Popen(
        command,
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
        errors="backslashreplace",
    )
    problems: List[str] = []
    deadline = time.monotonic() + TIMEOUT_S
    while not temporaries(d) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if process.poll() is not None:
        problems.append(
            "finished before any temporary appeared (make the input larger)"
        )
    else:
        time.sleep(0.2)  # well inside the preparation
        process.send_signal(case.kill)
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        problems.append("did not stop after the signal")
    outcome = Outcome(process.returncode, stdout, stderr, problems)
    left = temporaries(d)
    if case.rerun is None:
        if left:
            problems.append(f"left behind: {[os.path.basename(p) for p in left]}")
        if os.path.exists(os.path.join(d, OUTPUT)):
            problems.append("an output appeared")
        return outcome
    if not left:
        problems.append("SIGKILL left nothing to clean up (the case proves nothing)")
    again = subprocess.run(
        _command(repo, case.rerun, d),
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=_environment(),
        errors="backslashreplace",
    )
    if again.returncode != 0 or "Traceback" in again.stderr:
        problems.append(
            f"the next run failed: {again.returncode} {again.stderr.strip()[:200]}"
        )
    still = temporaries(d)
    if still:
        problems.append(f"the next run left {[os.path.basename(p) for p in still]}")
    return outcome


def run_all(repo: str, cases: Sequence[Case] = CASES) -> List[Outcome]:
    outcomes = []
    for case in cases:
        d = tempfile.mkdtemp(prefix=f"corpus_{case.name}_")
        try:
            outcomes.append(run_case(case, repo, d))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return outcomes


_TMP = re.compile(r"/tmp/corpus_[A-Za-z0-9_]+?/")


def _short(text: str, width: int) -> str:
    text = _TMP.sub("", text)
    return text if len(text) <= width else text[: width - 3] + "..."


def describe(case: Case, outcome: Outcome, width: int = 100) -> str:
    """Short: the exit status, the message or behaviour, and whether it is as expected."""
    stderr = [x for x in outcome.stderr.splitlines() if x.strip()]
    if "Traceback" in outcome.stderr or "Exception ignored" in outcome.stderr:
        what = f"traceback ({stderr[-1].strip() if stderr else ''})"
    elif case.argv[-1] == "--help":
        what = "help printed"
    elif outcome.status == 0 and case.kill is None:
        skips = [
            x.strip() for x in outcome.stdout.splitlines() if re.match(r"  \d+ x ", x)
        ]
        what = "; ".join(["prepared"] + skips + stderr[:1])
    elif case.kill is not None:
        what = outcome.first_line or "killed, no message"
    else:
        what = outcome.first_line or "(no message)"
    verdict = (
        "ok" if not outcome.problems else "WRONG: " + _short(outcome.problems[0], 70)
    )
    return f"{outcome.status}: {_short(what, width)} [{verdict}]"


def print_table(repo: str) -> int:
    outcomes = run_all(repo)
    print("case | item | exit status | first stderr line | verdict")
    for case, outcome in zip(CASES, outcomes):
        first = _TMP.sub("", outcome.first_line)
        verdict = (
            "ok" if not outcome.problems else "WRONG: " + "; ".join(outcome.problems)
        )
        print(f"{case.name} | {case.item} | {outcome.status} | {first} | {verdict}")
    return 0 if all(not o.problems for o in outcomes) else 1


def compare(old: str, new: str, markdown: Optional[str]) -> int:
    before, after = run_all(old), run_all(new)
    rows = [
        f"Bad-input corpus of datasets/prepare.py (tests/preprocessing/"
        f"test_bad_input_corpus.py): before = {old}, after = {new}. Each cell: exit status: "
        f"message or behaviour [ok, or WRONG: the first way it differs from the expected "
        f"outcome]. Paths are shown relative to each case's directory.",
        "",
        "| case | item | before | after |",
        "|---|---|---|---|",
    ]
    for case, b, a in zip(CASES, before, after):
        cells = [describe(case, x).replace("|", "\\|") for x in (b, a)]
        rows.append(f"| {case.name} | {case.item} | {cells[0]} | {cells[1]} |")
    text = "\n".join(rows) + "\n"
    if markdown:
        with open(markdown, "w") as f:
            f.write(text)
    print(text)
    return 0


# pytest: one test per case against this checkout.

try:
    import pytest
except ImportError:  # the table runs without pytest
    pytest = None

if pytest is not None:

    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_case(case: Case, tmp_path) -> None:  # pyre-ignore[2]
        outcome = run_case(case, ROOT, str(tmp_path))
        assert not outcome.problems, (outcome.problems, outcome.stderr[-2000:])


def test_the_corpus_covers_every_item() -> None:
    covered = {c.item for c in CASES}
    assert {str(i) for i in range(1, 10)} <= covered
    assert len(CASES) >= 22
    assert len({c.name for c in CASES}) == len(CASES)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--table", action="store_true", help="run every case, print a table"
    )
    parser.add_argument(
        "--repo", default=ROOT, help="checkout whose datasets/prepare.py runs"
    )
    parser.add_argument(
        "--compare", nargs=2, metavar=("OLD", "NEW"), help="before/after table"
    )
    parser.add_argument(
        "--markdown", default=None, help="write the --compare table here"
    )
    parser.add_argument("--only", default=None, help="regex of case names to run")
    args = parser.parse_args(argv)
    if args.only:
        CASES[:] = [c for c in CASES if re.search(args.only, c.name)]
    if args.compare:
        old, new = (os.path.abspath(p) for p in args.compare)
        return compare(old, new, args.markdown)
    if args.table:
        return print_table(os.path.abspath(args.repo))
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
