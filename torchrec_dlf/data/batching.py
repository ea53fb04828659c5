"""Turns rows held as numpy arrays into TorchRec `Batch` objects."""

from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torchrec.datasets.utils import Batch
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

# Label of rows added only to give every rank the same batch shape in evaluation;
# metrics drop them.
PADDING_LABEL = -1.0


def make_batch(
    labels: np.ndarray,
    dense: np.ndarray,
    categorical: np.ndarray,
    keys: List[str],
) -> Batch:
    """
    Builds a `Batch` of single-id (one-hot) categorical features.

    Args:
        labels (np.ndarray): B, 0/1 (or `PADDING_LABEL`).
        dense (np.ndarray): B x N float32.
        categorical (np.ndarray): B x F ids.
        keys (List[str]): the F feature names, in column order.

    Returns:
        Batch: dense_features B x N, a KJT with F keys and one id per sample per key
        (lengths and offsets precomputed), labels B (float32).
    """
    batch_size = categorical.shape[0]
    # KJT values are key-major: all samples of feature 0, then feature 1, ...
    values = np.ascontiguousarray(categorical.T, dtype=np.int64).reshape(-1)
    return tensor_batch(
        torch.from_numpy(np.asarray(labels, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32)),
        torch.from_numpy(values),
        keys,
        batch_size,
    )


def bag_arrays(
    ids: np.ndarray,
    lengths: np.ndarray,
    weights: Optional[np.ndarray],
    slots: Sequence[Tuple[int, int]],
) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """
    The KJT arrays of multi-hot rows (see `torchrec_dlf.data.bags`).

    Args:
        ids (np.ndarray): B x S ids, field ``f`` in columns ``slots[f]``.
        lengths (np.ndarray): B x F ids used per row and field.
        weights (Optional[np.ndarray]): B x S per-id weights, or None.
        slots (Sequence[Tuple[int, int]]): each field's [start, end) columns.

    Returns:
        values (int64, sum of lengths), lengths (int32, F * B) and weights (float32,
        like values, or None), key-major: every row's bag of field 0 in row order,
        then field 1's, ... (TorchRec's KJT layout).
    """
    values, kept = [], []
    for f, (start, end) in enumerate(slots):
        used = np.arange(end - start)[None, :] < lengths[:, f : f + 1]  # B x width
        values.append(ids[:, start:end][used])
        if weights is not None:
            kept.append(weights[:, start:end][used])
    return (
        np.concatenate(values).astype(np.int64, copy=False),
        np.ascontiguousarray(lengths.T, dtype=np.int32).reshape(-1),
        None if weights is None else np.concatenate(kept).astype(np.float32),
    )


def make_bag_batch(
    labels: np.ndarray,
    dense: np.ndarray,
    ids: np.ndarray,
    lengths: np.ndarray,
    *rest: np.ndarray,
    keys: List[str],
    slots: Sequence[Tuple[int, int]],
) -> Batch:
    """
    Builds a `Batch` of multi-hot rows ``(labels, dense, ids, lengths[, weights])``
    (see `torchrec_dlf.data.bags` and `bag_arrays`).

    Returns:
        Batch: dense_features B x N, a KJT with F keys, lengths from the rows (0 for
        an empty bag), weighted when the rows carry weights; labels B (float32).
    """
    values, kjt_lengths, kjt_weights = bag_arrays(
        ids, lengths, rest[0] if rest else None, slots
    )
    return tensor_batch(
        torch.from_numpy(np.asarray(labels, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32)),
        torch.from_numpy(values),
        keys,
        labels.shape[0],
        torch.from_numpy(kjt_lengths),
        None if kjt_weights is None else torch.from_numpy(kjt_weights),
    )


def tensor_batch(
    labels: torch.Tensor,
    dense: torch.Tensor,
    values: torch.Tensor,
    keys: List[str],
    batch_size: int,
    lengths: Optional[torch.Tensor] = None,
    weights: Optional[torch.Tensor] = None,
) -> Batch:
    """
    The `Batch` of `make_batch` from its tensors: ``labels`` B float32, ``dense``
    B x N float32 and ``values`` the B x F ids key-major (int64, F * B); with
    ``lengths`` (int32, F * B, key-major) the bags of `make_bag_batch` instead, and
    ``weights`` (float32, like ``values``) for a weighted KJT.
    """
    num_ids = batch_size * len(keys)
    if lengths is None:
        lengths = torch.ones(num_ids, dtype=torch.int32)
        offsets = torch.arange(num_ids + 1, dtype=torch.int32)
    else:
        offsets = torch.zeros(num_ids + 1, dtype=torch.int32)
        offsets[1:] = torch.cumsum(lengths, 0, dtype=torch.int32)
    sparse = KeyedJaggedTensor(
        keys=keys,
        values=values,
        weights=weights,
        lengths=lengths,
        offsets=offsets,
        stride=batch_size,
    )
    return Batch(dense_features=dense, sparse_features=sparse, labels=labels)
