"""Rows held as numpy arrays: (labels, dense, categorical), and what is done to them."""

from typing import Any, List, Optional, Tuple

import numpy as np
from torchrec.datasets.utils import Batch

from torchrec_dlf.data.bags import RowNumbers, bag_rows
from torchrec_dlf.data.batching import PADDING_LABEL, make_bag_batch, make_batch
from torchrec_dlf.data.metadata import DatasetMetadata

# labels (B), dense (B x N float32), categorical ids (B x F int32); for a multi-hot
# dataset the categorical part is ``ids, lengths[, weights]`` (see
# `torchrec_dlf.data.bags`). The helpers below take any tuple of equally long arrays
# (the loader also runs them on row positions).
Rows = Tuple[np.ndarray, ...]


def table_rows(
    table: Any,
    metadata: DatasetMetadata,
    path: str = "<table>",
    rows: RowNumbers = 0,
) -> Rows:
    """
    The rows of an Arrow table of the prepared columns; ``path`` and ``rows`` (the
    first row's number in that file, or each row's) name a bad bag's row in errors.
    """
    n = table.num_rows
    labels = table.column(metadata.label).to_numpy()
    dense = np.empty((n, len(metadata.numeric)), dtype=np.float32)
    for j, name in enumerate(metadata.numeric):
        dense[:, j] = table.column(name).to_numpy()
    if metadata.multi_hot:
        return (labels, dense) + bag_rows(table, metadata, path, rows)
    cat = np.empty((n, len(metadata.categorical)), dtype=np.int32)
    for j, name in enumerate(metadata.categorical):
        cat[:, j] = table.column(name).to_numpy()
    return labels, dense, cat


def rows_batch(rows: Rows, metadata: DatasetMetadata) -> Batch:
    """The `Batch` of rows of ``metadata``'s dataset (one-hot or multi-hot)."""
    if metadata.multi_hot:
        return make_bag_batch(
            *rows, keys=list(metadata.categorical), slots=metadata.bag_slots()
        )
    return make_batch(*rows, list(metadata.categorical))


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
    pad = (np.full(missing, PADDING_LABEL, dtype=np.float32),) + tuple(
        np.repeat(r, missing, axis=0) for r in first_row[1:]
    )
    if rows is None:
        return pad
    return (np.concatenate([rows[0].astype(np.float32), pad[0]]),) + tuple(
        np.concatenate([r, p]) for r, p in zip(rows[1:], pad[1:])
    )
