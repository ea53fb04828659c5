import contextlib
import io
import os
import unittest
import unittest.mock

from torchrec_dlf.user_errors import (
    USER_ERROR_EXIT,
    CommandLineParser,
    ConfigError,
    error_line,
    explicit_flags,
    mark_before_process_group,
    run_command,
)


def _parser() -> CommandLineParser:
    p = CommandLineParser(prog="tool.py")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--flag", action="store_true")
    p.add_argument("--gate", type=lambda s: s == "on", default=True, metavar="{on,off}")
    p.add_argument("--name", default=None, help="a name")
    return p


class CommandLineParserTest(unittest.TestCase):
    def test_error_is_one_line_with_exit_2(self) -> None:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as stop:
            _parser().parse_args(["--epochs", "x"])
        self.assertEqual(stop.exception.code, USER_ERROR_EXIT)
        self.assertEqual(
            err.getvalue(),
            "error: argument --epochs: invalid int value: 'x' (see tool.py --help)\n",
        )

    def test_error_prints_on_rank_zero_only(self) -> None:
        for rank, printed in (("0", True), ("1", False)):
            err = io.StringIO()
            with (
                unittest.mock.patch.dict(os.environ, {"RANK": rank}),
                contextlib.redirect_stderr(err),
                self.assertRaises(SystemExit) as stop,
            ):
                _parser().parse_args(["--bogus"])
            self.assertEqual(stop.exception.code, USER_ERROR_EXIT)
            self.assertEqual(err.getvalue().startswith("error: unrecognized"), printed)
            self.assertEqual(bool(err.getvalue()), printed)

    def test_help_shows_every_default(self) -> None:
        text = _parser().format_help()
        self.assertRegex(text, r"--epochs EPOCHS\s+\(default: 1\)")
        self.assertRegex(text, r"--rate RATE\s+\(default: 0.0\)")  # a falsy default
        self.assertRegex(text, r"--gate \{on,off\}\s+\(default: on\)")
        self.assertRegex(text, r"--name NAME\s+a name\n")  # no default to show
        self.assertNotIn("--flag  (default", text)

    def test_no_abbreviations(self) -> None:
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
            _parser().parse_args(["--epo", "2"])

    def test_explicit_flags(self) -> None:
        p = _parser()
        self.assertEqual(
            explicit_flags(p, ["--epochs", "1", "--flag"]), {"epochs", "flag"}
        )
        self.assertEqual(explicit_flags(p, []), set())


class RunCommandTest(unittest.TestCase):
    def _run(self, fn, rank: str = "0"):  # pyre-ignore[2,3]
        err = io.StringIO()
        with (
            unittest.mock.patch.dict("os.environ", {"RANK": rank}),
            contextlib.redirect_stderr(err),
        ):
            code = run_command(fn)
        return code, err.getvalue()

    def test_user_error_is_one_line(self) -> None:
        def fail() -> None:
            raise ConfigError("--batch_size must be >= 1, got -1\n(second line)")

        self.assertEqual(
            self._run(fail),
            (2, "error: --batch_size must be >= 1, got -1 (second line)\n"),
        )

    def test_errors_before_the_group_print_on_rank_zero_only(self) -> None:
        def fail() -> None:
            raise mark_before_process_group(ConfigError("bad"))

        self.assertEqual(self._run(fail, rank="1"), (2, ""))
        self.assertEqual(self._run(fail, rank="0"), (2, "error: bad\n"))

    def test_later_errors_print_on_every_rank(self) -> None:
        def fail() -> None:
            raise ConfigError("rank-local")

        self.assertEqual(self._run(fail, rank="3"), (2, "error: rank-local\n"))

    def test_bugs_propagate(self) -> None:
        def bug() -> None:
            raise KeyError("x")

        with self.assertRaises(KeyError):
            run_command(bug)
        self.assertEqual(run_command(lambda: None), 0)

    def test_error_line(self) -> None:
        self.assertEqual(error_line(ValueError("")), "error: ValueError")


if __name__ == "__main__":
    unittest.main()
