"""Headers of delimited files: read once, checked against each other and a schema."""

from typing import List, Sequence

from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.rfc4180 import split_quoted
from torchrec_dlf.preprocessing.text_files import read_first_line


def split_header(path: str, separator: str, quoting: bool = False) -> List[str]:
    """
    The column names in a file's header line (a UTF-8 byte-order mark is dropped;
    with ``quoting`` a name may be quoted as in RFC 4180).
    """
    line, has_rows = read_first_line(path)
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PreparationError(f"{path}:1: the header is not valid UTF-8 ({e})") from e
    text = text.lstrip("\ufeff")
    if quoting:
        names, broken = split_quoted(text.encode("utf-8"), separator.encode())
        if names is None:
            raise PreparationError(
                f"{path}:1: the header's column {broken + 1} is badly quoted"
            )
        names = [n.decode("utf-8") for n in names]
    else:
        names = text.split(separator)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PreparationError(
            f"{path}:1: the header names {duplicates} more than once"
        )
    if not has_rows:
        raise PreparationError(f"{path}: has a header but no rows")
    return names


def read_common_header(
    paths: Sequence[str], separator: str, quoting: bool = False
) -> List[str]:
    """The header shared by all ``paths``; `PreparationError` when one differs."""
    columns = split_header(paths[0], separator, quoting)
    for path in paths[1:]:
        other = split_header(path, separator, quoting)
        if other != columns:
            raise PreparationError(
                f"{path}: the header differs from {paths[0]}'s: {describe_difference(columns, other)}"
            )
    return columns


def describe_difference(expected: Sequence[str], found: Sequence[str]) -> str:
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    parts = []
    if missing:
        parts.append(f"missing {missing}")
    if extra:
        parts.append(f"unexpected {extra}")
    if not parts:
        parts.append(
            f"columns in another order: expected {list(expected)}, found {list(found)}"
        )
    return ", ".join(parts)


def check_header(
    path: str, separator: str, expected: Sequence[str], quoting: bool = False
) -> List[str]:
    """The header of ``path``, which must name exactly the ``expected`` columns (any order)."""
    found = split_header(path, separator, quoting)
    if sorted(found) != sorted(expected):
        raise PreparationError(
            f"{path}: the header does not match the schema: {describe_difference(expected, found)}"
        )
    return found
