"""Headers of delimited files: read once, checked against each other and a schema."""

from typing import List, Sequence

from torchrec_dlf.preprocessing.delimited_reader import split_header
from torchrec_dlf.preprocessing.errors import PreparationError


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
