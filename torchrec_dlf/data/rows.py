"""Rows held as numpy arrays: (labels, dense, categorical), and what is done to them."""

from typing import Any, List, Optional, Tuple

import numpy as np

from torchrec_dlf.data.batching import PADDING_LABEL
from torchrec_dlf.data.metadata import DatasetMetadata

# labels (B), dense (B x N float32), categorical ids (B x F int32). The helpers below
# take any tuple of equally long arrays (the loader also runs them on row positions).
Rows = Tuple[np.ndarray, ...]


def table_rows(table: Any, metadata: DatasetMetadata) -> Rows:
    """The rows of an Arrow table of the prepared columns."""
    n = table.num_rows
    labels = table.column(metadata.label).to_numpy()
    dense = np.empty((n, len(metadata.numeric)), dtype=np.float32)
    for j, name in enumerate(metadata.numeric):
        dense[:, j] = table.column(name).to_numpy()
    cat = np.empty((n, len(metadata.categorical)), dtype=np.int32)
    for j, name in enumerate(metadata.categorical):
        cat[:, j] = table.column(name).to_numpy()
    return labels, dense, cat


def num_rows(rows: Rows) -> int:
    return rows[0].shape[0]


def concat_rows(parts: List[Rows]) -> Rows:
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(len(parts[0])))


def take_rows(rows: Rows, index: np.ndarray) -> Rows:
    return tuple(r[index] for r in rows)


def slice_rows(rows: Rows, a: int, b: int) -> Rows:
    return tuple(r[a:b] for r in rows)


def pad_rows(rows: Optional[Rows], size: int, first_row: Rows) -> Rows:
    """
    ``rows`` padded to ``size`` rows with copies of ``first_row`` (a real row: valid
    ids) labelled `PADDING_LABEL`; ``rows`` itself when it holds ``size`` rows already.
    """
    have = 0 if rows is None else num_rows(rows)
    missing = size - have
    if missing <= 0:
        assert rows is not None
        return rows
    _, dense, cat = first_row
    pad = (
        np.full(missing, PADDING_LABEL, dtype=np.float32),
        np.repeat(dense, missing, axis=0),
        np.repeat(cat, missing, axis=0),
    )
    if rows is None:
        return pad
    return (
        np.concatenate([rows[0].astype(np.float32), pad[0]]),
        np.concatenate([rows[1], pad[1]]),
        np.concatenate([rows[2], pad[2]]),
    )
