"""User errors: input, flags or files that cannot be used as given.

Every command (prepare, train, predict, export) reports a user error as one line on
stderr, ``error: <what> (<file>:<line>, field <name>)``, and exits with status 2; only
bugs print a traceback. Argument errors look the same: `CommandLineParser` replaces
argparse's usage-plus-message with that one line.
"""

import argparse
import os
import sys
from typing import Any, Callable, NoReturn, Optional, Sequence

USER_ERROR_EXIT = 2


class UserError(Exception):
    """
    Something the user can fix: a bad flag, a missing or malformed file, a dataset that
    does not match a checkpoint. The message says what and where, in one line.
    """


class ConfigError(UserError, ValueError):
    """A flag or configuration value out of its range, or flags that contradict."""


class OutputError(UserError):
    """An output location that cannot be written, or whose contents would be lost."""


class TrainingDiverged(UserError):
    """A non-finite training loss: the weights are no longer usable."""


def error_line(error: BaseException) -> str:
    """``error: <message>`` on one line."""
    text = " ".join(str(error).split("\n")).strip() or type(error).__name__
    return f"error: {text}"


def _shows_default(action: argparse.Action) -> bool:
    default = action.default
    return bool(action.option_strings) and not (
        default is None or default is False or default is argparse.SUPPRESS
    )


def _default_text(action: argparse.Action) -> str:
    if action.metavar == "{on,off}" and isinstance(action.default, bool):
        return f"(default: {'on' if action.default else 'off'})"
    return "(default: %(default)s)"


class _DefaultsFormatter(argparse.HelpFormatter):
    """Shows every option's default, also for options without a help text."""

    def _get_help_string(self, action: argparse.Action) -> Optional[str]:
        text = action.help or ""
        if not _shows_default(action) or "(default" in text:
            return text
        return f"{text} {_default_text(action)}"


class CommandLineParser(argparse.ArgumentParser):
    """
    argparse with one-line errors (``error: <message> (see --help)``, exit 2), every
    default in ``--help`` and no abbreviations (so flags pass through torchrun).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def format_help(self) -> str:
        for action in self._actions:
            if action.help is None and _shows_default(action):
                action.help = _default_text(action)
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        # The same command line reaches every rank of a job: rank 0 says it once.
        if int(os.environ.get("RANK", "0")) == 0:
            print(
                f"error: {message} (see {self.prog} --help)",
                file=sys.stderr,
                flush=True,
            )
        sys.exit(USER_ERROR_EXIT)


def explicit_flags(
    parser: argparse.ArgumentParser, argv: Optional[Sequence[str]]
) -> set:
    """The destinations of the options given on the command line (not defaulted)."""
    shadow = argparse.Namespace()
    for action in parser._actions:
        if action.dest != argparse.SUPPRESS:
            setattr(shadow, action.dest, _UNSET)
    args = parser.parse_args(argv, namespace=shadow)
    return {k for k, v in vars(args).items() if v is not _UNSET}


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()


def _reports_on_this_rank(error: BaseException) -> bool:
    # Errors found before the process group exists are the same on every rank: one
    # line from rank 0 is enough. Errors found later may concern one rank's share.
    if getattr(error, "before_process_group", False):
        return int(os.environ.get("RANK", "0")) == 0
    return True


def run_command(main: Callable[[], Any]) -> int:
    """
    Runs a command's ``main``; a `UserError` becomes one ``error:`` line on stderr and
    exit status 2. Anything else propagates (a bug: its traceback is the report).
    """
    try:
        main()
    except UserError as e:
        if _reports_on_this_rank(e):
            print(error_line(e), file=sys.stderr, flush=True)
        return USER_ERROR_EXIT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        return 130
    return 0


def mark_before_process_group(error: UserError) -> UserError:
    """Marks ``error`` as found by every rank alike, before any process group."""
    error.before_process_group = True  # pyre-ignore[16]
    return error
