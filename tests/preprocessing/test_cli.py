import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from tests.preprocessing.helpers import write_text
from tests.shared_data import shared_data
from torchrec_dlf.preprocessing.cli import build_parser, main, parse_args, run
from torchrec_dlf.preprocessing.sigterm import (
    TERMINATED_EXIT,
    Terminated,
    sigterm_unwinds,
)
from torchrec_dlf.preprocessing.sources.criteo import write_criteo_tsv

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "datasets", "prepare.py")


class PrepareScriptTest(unittest.TestCase):
    def test_script_prepares_and_reports_errors(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            data = os.path.join(d, "train.txt")
            write_criteo_tsv(data, 200, seed=1)
            out = os.path.join(d, "out")
            done = subprocess.run(
                [
                    sys.executable,
                    SCRIPT,
                    "criteo",
                    data,
                    "--output",
                    out,
                    "--min_count",
                    "1",
                    "--quiet",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertIn(
                "prepared 'criteo': 13 numeric, 26 categorical fields", done.stdout
            )
            self.assertTrue(os.path.isfile(os.path.join(out, "metadata.json")))
            failed = subprocess.run(
                [
                    sys.executable,
                    SCRIPT,
                    "criteo",
                    os.path.join(d, "nope"),
                    "--output",
                    out,
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            self.assertEqual(failed.returncode, 2)
            self.assertEqual(
                failed.stderr.strip(),
                f"error: {os.path.join(d, 'nope')}: input file does not exist",
            )


class CliTest(unittest.TestCase):
    def test_frappe_command(self) -> None:
        files = [
            shared_data("frappe_x1", f"{s}.csv") for s in ("train", "valid", "test")
        ]
        with tempfile.TemporaryDirectory() as d:
            lines = []
            out = os.path.join(d, "frappe_x1")
            run(
                [
                    "bars",
                    "--train",
                    files[0],
                    "--valid",
                    files[1],
                    "--test",
                    files[2],
                    "--output",
                    out,
                    "--name",
                    "frappe_x1",
                    "--checksum",
                    "none",
                ],
                out=lines.append,
            )
            self.assertIn("  valid: 57722 rows, 19063 positive (33.03%)", lines)
            with open(os.path.join(out, "metadata.json")) as f:
                self.assertEqual(json.load(f)["name"], "frappe_x1")

    def test_skip_summary_is_printed(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            good = ["1,a", "0,b"] * 20  # enough rows for every split
            path = write_text(
                os.path.join(d, "t.csv"), ["y,c", "1,a", "2,b", "0", "1,a"] + good
            )
            schema = os.path.join(d, "s.json")
            with open(schema, "w") as f:
                json.dump({"label": "y", "categorical": ["c"]}, f)
            lines = []
            run(
                [
                    "csv",
                    "--schema",
                    schema,
                    path,
                    "--output",
                    os.path.join(d, "o"),
                    "--on_bad_row",
                    "skip",
                    "--spill",
                    "off",
                    "--quiet",
                ],
                out=lines.append,
            )
            self.assertEqual(
                lines[-7:],
                [
                    "skipped 2 bad rows:",
                    "  1 x bad label",
                    "  1 x wrong number of fields",
                    "first 2:",
                    f"  '2' is not a label (expected 0, 1) ({path}:3, field y)",
                    f"  expected 2 fields, found 1 ({path}:4)",
                    f"written to {os.path.join(d, 'o')}",
                ],
            )

    def test_parser(self) -> None:
        args = build_parser().parse_args(
            [
                "libfm",
                "--train",
                "a",
                "--test",
                "b",
                "--valid_from_train",
                "0.1",
                "--field_ranges",
                "1-5",
                "--label_map=-1:0,1:1",
                "--output",
                "o",
            ]
        )
        self.assertEqual(args.label_map, {"-1": 0, "1": 1})
        self.assertEqual(args.split, None)
        with self.assertRaises(SystemExit):
            build_parser().parse_args(
                ["criteo", "x", "--output", "o", "--min_count", "2", "--hash_size", "3"]
            )
        with self.assertRaises(SystemExit):
            build_parser().parse_args(
                ["avazu", "x", "--output", "o", "--numeric", "log"]
            )

    def test_options_that_vocabulary_from_supplies(self) -> None:
        # Needed without --vocabulary_from, taken from its metadata with it.
        for argv in (["libfm", "--train", "a", "--test", "b"], ["csv", "a"]):
            with self.assertRaises(SystemExit):
                parse_args(argv + ["--output", "o"])
            args = parse_args(argv + ["--output", "o", "--vocabulary_from", "d"])
            self.assertEqual(args.vocabulary_from, "d")
        args = parse_args(["bars", "a", "--split", "test", "--output", "o"])
        self.assertEqual((args.split, args.label), ("test", None))

    def test_every_subcommand_shows_its_defaults(self) -> None:
        parser = build_parser()
        for source in ("criteo", "avazu", "bars", "libfm", "csv"):
            with self.subTest(source=source):
                out = io.StringIO()
                with contextlib.redirect_stdout(out), self.assertRaises(SystemExit):
                    parser.parse_args([source, "--help"])
                text = " ".join(out.getvalue().split())
                for default in (
                    "(default: 8,1,1)",
                    "(default: 4194304)",
                    "(default: error)",
                ):
                    self.assertIn(default, text)


class SigtermTest(unittest.TestCase):
    def test_sigterm_unwinds_and_the_handler_is_restored(self) -> None:
        previous = signal.getsignal(signal.SIGTERM)
        with self.assertRaises(Terminated) as ctx:
            with sigterm_unwinds():
                self.assertIsNot(signal.getsignal(signal.SIGTERM), previous)
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(10)  # the handler interrupts the sleep at once
        self.assertEqual(ctx.exception.code, TERMINATED_EXIT)
        self.assertIs(signal.getsignal(signal.SIGTERM), previous)
        # A bad command restores it too, and exits 2 with one line.
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            self.assertEqual(
                main(["criteo", "/nonexistent/x.txt", "--output", "/tmp/o"]), 2
            )
        self.assertEqual(
            err.getvalue(), "error: /nonexistent/x.txt: input file does not exist\n"
        )
        self.assertIs(signal.getsignal(signal.SIGTERM), previous)
