"""Errors of data preparation."""

from torchrec_dlf.user_errors import UserError


class PreparationError(UserError, ValueError):
    """
    Input that cannot be prepared as asked: a missing or empty file, a header that does
    not match the schema, a feature-index map that does not parse, inconsistent options.
    Raised before any row is processed whenever the problem can be seen up front.
    """


class BadRowError(PreparationError):
    """A malformed row met with ``on_bad_row="error"``; the message names file, line and field."""

    def __init__(self, bad_row: "object") -> None:  # a `BadRow`
        super().__init__(bad_row.message())  # pyre-ignore[16]
        self.bad_row = bad_row
