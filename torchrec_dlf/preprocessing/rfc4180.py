"""RFC 4180 quoting of one delimited line (the slow path of `DelimitedReader`).

A value may be enclosed in double quotes: ``"x"`` is ``x``, ``"a,b"`` is one value
``a,b`` and ``""`` inside quotes is one ``"``. A quote inside an unquoted value is a
plain character (``5"`` is ``5"``). A quoted value must close on its own line and be
followed by the separator or the line end.
"""

from typing import List, Optional, Tuple

QUOTE = b'"'


def split_quoted(line: bytes, separator: bytes) -> Tuple[Optional[List[bytes]], int]:
    """
    The values of one line under RFC 4180 quoting (see the module docstring), or
    (None, index of the first field whose quoting is broken). The slow path: only
    lines of blocks that pyarrow's parse did not place exactly come here.
    """
    values: List[bytes] = []
    i, n = 0, len(line)
    while True:
        if line[i : i + 1] == QUOTE:
            parts, j = [], i + 1
            while True:
                k = line.find(QUOTE, j)
                if k < 0:
                    return None, len(values)  # unterminated
                parts.append(line[j:k])
                if line[k + 1 : k + 2] == QUOTE:
                    parts.append(QUOTE)
                    j = k + 2
                    continue
                break
            values.append(b"".join(parts))
            i = k + 1
            if i == n:
                return values, -1
            if line[i : i + 1] != separator:
                return None, len(values) - 1  # text after the closing quote
            i += 1
            continue
        k = line.find(separator, i)
        if k < 0:
            values.append(line[i:])
            return values, -1
        values.append(line[i:k])
        i = k + 1
