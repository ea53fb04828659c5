"""Checks and counts over whole text files, read in blocks (compressed ones decompressed).

Line endings: LF and CRLF (mixed too) are read; a file with CR-only line endings (old
Mac) is refused up front, since every reader splits lines at LF.
"""

from typing import Tuple

import pyarrow as pa

from torchrec_dlf.preprocessing.errors import PreparationError

# Bytes looked at to tell a file's line endings.
HEAD_BYTES = 1 << 16


def check_line_endings(path: str, head: bytes) -> None:
    """
    Refuses a file with CR-only line endings (old Mac style), seen in its first bytes
    ``head``: every reader splits lines at LF, so such a file would be one huge line.
    """
    lone = head.count(b"\r") - head.count(b"\r\n")
    if lone > 0 and lone >= head.count(b"\n"):
        raise PreparationError(
            f"{path}: CR-only line endings (old Mac style) are not supported; convert the "
            f"file with tr '\\r' '\\n' < {path} > converted"
        )


def read_head(path: str, size: int = HEAD_BYTES) -> bytes:
    """Up to the first ``size`` bytes of a file (decompressed), for checks up front."""
    try:
        with pa.input_stream(path, compression="detect") as f:
            return f.read(size)
    except (pa.ArrowException, OSError, EOFError) as e:
        raise PreparationError(f"{path}: cannot read it ({e})") from e


def read_first_line(path: str) -> Tuple[bytes, bool]:
    """
    The first line of a file without its line ending (CRLF or LF), and whether any
    bytes follow it. Compressed files (``.gz``, ``.bz2``...) are read decompressed.
    """
    try:
        with pa.input_stream(path, compression="detect") as f:
            head = f.read(HEAD_BYTES)
            check_line_endings(path, head)
            while b"\n" not in head:
                chunk = f.read(1 << 16)
                if not chunk:
                    break
                head += chunk
    except (pa.ArrowException, OSError, EOFError) as e:
        raise PreparationError(f"{path}: cannot read it ({e})") from e
    line, newline, rest = head.partition(b"\n")
    return line.rstrip(b"\r"), bool(rest)


def count_lines(path: str) -> int:
    """Lines in a file (a last line without newline counts), read in blocks."""
    lines = 0
    last = b"\n"
    try:
        with pa.input_stream(path, compression="detect") as f:
            while True:
                chunk = f.read(1 << 24)
                if not chunk:
                    break
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except (pa.ArrowException, OSError, EOFError) as e:
        raise PreparationError(f"{path}: cannot read it ({e})") from e
    return lines + (last != b"\n")
