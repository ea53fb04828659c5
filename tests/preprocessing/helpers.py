"""Small raw files in the exact source formats, and readers of prepared output."""

from collections import Counter
from typing import Dict, Iterable, List, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from torchrec_dlf.data.metadata import DatasetMetadata, split_files

AVAZU_HEADER = (
    "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,"
    "app_category,device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,"
    "C16,C17,C18,C19,C20,C21"
).split(",")


def write_text(
    path: str, lines: Iterable[str], eol: str = "\n", final_newline: bool = True
) -> str:
    """Writes ``lines`` joined by ``eol`` (bytes exactly as given)."""
    body = eol.join(lines)
    if final_newline:
        body += eol
    with open(path, "wb") as f:
        f.write(body.encode("utf-8"))
    return path


def write_bytes(path: str, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return path


def read_split(directory: str, split: str) -> pa.Table:
    meta = DatasetMetadata.read(directory)
    return pa.concat_tables(
        [pq.read_table(p) for p in split_files(directory, meta, split)]
    )


def vocabulary(values: Iterable[str], min_count: int = 1) -> Dict[str, int]:
    """Reference vocabulary: ids 1..V by descending count, then ascending UTF-8 bytes."""
    counts = Counter(values)
    kept = [(v, n) for v, n in counts.items() if n >= min_count]
    kept.sort(key=lambda vn: (-vn[1], vn[0].encode("utf-8")))
    return {v: i + 1 for i, (v, _) in enumerate(kept)}


def avazu_rows(n: int, seed: int = 0) -> List[List[str]]:
    """Avazu-format rows (as strings), hours spread over a week of October 2014."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        day, hour = 21 + int(rng.integers(0, 9)), int(rng.integers(0, 24))
        row = [
            str(10**18 + i),
            str(int(rng.random() < 0.2)),
            f"1410{day:02d}{hour:02d}",
        ]
        row += [f"v{int(rng.integers(0, 4))}" for _ in AVAZU_HEADER[3:]]
        rows.append(row)
    return rows


def libsvm_rows(
    n: int,
    field_sizes: Sequence[int],
    seed: int = 0,
    labels: Sequence[str] = ("0", "1"),
    absent: float = 0.0,
) -> List[str]:
    """libSVM lines with one index per field, field j owning a contiguous index range."""
    rng = np.random.default_rng(seed)
    starts = np.concatenate([[1], 1 + np.cumsum(field_sizes)[:-1]])
    lines = []
    for _ in range(n):
        tokens = [labels[int(rng.integers(0, len(labels)))]]
        for start, size in zip(starts, field_sizes):
            if rng.random() >= absent:
                tokens.append(f"{int(start + rng.integers(0, size))}:1")
        lines.append(" ".join(tokens))
    return lines


def ranges_of(field_sizes: Sequence[int]) -> str:
    starts = np.concatenate([[1], 1 + np.cumsum(field_sizes)[:-1]])
    return ",".join(f"{s}-{s + n - 1}" for s, n in zip(starts, field_sizes))


def column(table: pa.Table, name: str) -> List:  # pyre-ignore[24]
    return table.column(name).to_pylist()
