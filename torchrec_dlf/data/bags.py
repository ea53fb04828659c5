"""
Multi-hot (bag) fields held as row-aligned numpy arrays.

A multi-hot dataset's rows are ``(labels, dense, ids, lengths[, weights])``:

* ``ids``: B x S int32, every categorical field's ids in its columns of
  `DatasetMetadata.bag_slots` (``max_length`` wide for a multi-hot field, one for a
  one-hot field), the first ``length`` of them used, the rest 0;
* ``lengths``: B x F int32, the ids of each row and field (1 for a one-hot field, 0 for
  an empty bag);
* ``weights``: B x S float32, the per-id weights (1 for unweighted fields), only when
  the dataset has a weighted field.

Padded to the longest bag allowed, the rows stay plain arrays of equal length, so the
shuffle buffer, the rank shares and padding treat them as they treat one-hot rows;
`torchrec_dlf.data.batching.make_bag_batch` packs them into a jagged KJT.
"""

from typing import Any, Optional, Tuple, Union

import numpy as np
import pyarrow as pa

from torchrec_dlf.data.metadata import DatasetFormatError, DatasetMetadata

# The file row of each table row: the first one's (rows follow on) or one per row.
RowNumbers = Union[int, np.ndarray]


def _file_row(rows: RowNumbers, i: int) -> int:
    return int(rows + i) if isinstance(rows, int) else int(rows[i])


def read_bags(
    column: Any,
    name: str,
    max_length: int,
    path: str,
    rows: RowNumbers = 0,
    value_type: str = "integer",
) -> Tuple[np.ndarray, np.ndarray]:
    """
    The bags of one list column.

    Args:
        column (pa.ChunkedArray | pa.Array): a ``list<...>`` column of n rows (a null
            list is an empty bag).
        name (str): the column (for errors).
        max_length (int): the longest bag allowed.
        path (str): the file the rows come from (for errors).
        rows (RowNumbers): the rows' row numbers in that file (for errors).
        value_type (str): "integer" (ids) or "float" (weights).

    Returns:
        Tuple[np.ndarray, np.ndarray]: the flat values (all bags one after the other,
        int32 or float32) and the n bag lengths (int32).

    Raises:
        DatasetFormatError: naming the file, the row and the field, for a column that
            is not a list of ``value_type``, a null element or a bag longer than
            ``max_length``.
    """
    if isinstance(column, pa.ChunkedArray):
        column = (
            column.combine_chunks() if column.num_chunks else pa.array([], column.type)
        )
    kind = pa.types.is_integer if value_type == "integer" else pa.types.is_floating
    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)) or (
        not kind(column.type.value_type)
    ):
        raise DatasetFormatError(
            f"{path}: field {name} is a {column.type} column, not the list of "
            f"{value_type} values a multi-hot field needs"
        )
    lengths = column.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
    lengths = lengths.astype(np.int32, copy=False)
    flat = column.flatten()
    if flat.null_count:
        position = int(np.flatnonzero(flat.is_null().to_numpy(zero_copy_only=False))[0])
        row = int(np.searchsorted(np.cumsum(lengths), position, side="right"))
        raise DatasetFormatError(
            f"{path}: row {_file_row(rows, row)}, field {name}: a bag holds a null "
            f"instead of {'an id' if value_type == 'integer' else 'a weight'}"
        )
    if len(lengths) and int(lengths.max()) > max_length:
        row = int(np.argmax(lengths > max_length))
        raise DatasetFormatError(
            f"{path}: row {_file_row(rows, row)}, field {name}: a bag of "
            f"{int(lengths[row])} ids, longer than the max_length {max_length} its "
            f"metadata allows"
        )
    dtype = np.int32 if value_type == "integer" else np.float32
    return flat.to_numpy(zero_copy_only=False).astype(dtype, copy=False), lengths


def _scatter(
    out: np.ndarray, start: int, flat: np.ndarray, lengths: np.ndarray
) -> None:
    """Writes the bags ``flat``/``lengths`` into columns ``start...`` of ``out``."""
    ends = np.cumsum(lengths)
    row = np.repeat(np.arange(len(lengths)), lengths)
    column = np.arange(len(flat)) - np.repeat(ends - lengths, lengths)
    out[row, start + column] = flat


def bag_rows(
    table: Any,
    metadata: DatasetMetadata,
    path: str = "<table>",
    rows: RowNumbers = 0,
) -> Tuple[np.ndarray, ...]:
    """
    ``(ids, lengths[, weights])`` of the categorical fields of an Arrow table of a
    multi-hot dataset (see the module docstring); ``path`` and ``rows`` say where
    its rows come from, for the errors of `read_bags`.
    """
    n = table.num_rows
    slots = metadata.bag_slots()
    ids = np.zeros((n, slots[-1][1]), dtype=np.int32)
    lengths = np.ones((n, len(slots)), dtype=np.int32)
    weights: Optional[np.ndarray] = None
    if metadata.weighted:
        weights = np.ones(ids.shape, dtype=np.float32)
    for j, name in enumerate(metadata.categorical):
        start, end = slots[j]
        bag = metadata.multi_hot.get(name)
        if bag is None:
            column = table.column(name)
            if not pa.types.is_integer(column.type):
                raise DatasetFormatError(
                    f"{path}: field {name} is a {column.type} column, not the int32 "
                    f"ids of a one-hot field"
                )
            ids[:, start] = column.to_numpy()
            continue
        flat, lengths[:, j] = read_bags(
            table.column(name), name, end - start, path, rows
        )
        _scatter(ids, start, flat, lengths[:, j])
        if bag.weights:
            assert weights is not None
            values, counts = read_bags(
                table.column(bag.weights),
                bag.weights,
                end - start,
                path,
                rows,
                value_type="float",
            )
            if not np.array_equal(counts, lengths[:, j]):
                row = int(np.argmax(counts != lengths[:, j]))
                raise DatasetFormatError(
                    f"{path}: row {_file_row(rows, row)}, field {name}: "
                    f"{int(counts[row])} weights in {bag.weights} for a bag of "
                    f"{int(lengths[row, j])} ids"
                )
            _scatter(weights, start, values, counts)
    return (ids, lengths) if weights is None else (ids, lengths, weights)
