"""Turns rows held as numpy arrays into TorchRec `Batch` objects."""

from typing import List

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


def tensor_batch(
    labels: torch.Tensor,
    dense: torch.Tensor,
    values: torch.Tensor,
    keys: List[str],
    batch_size: int,
) -> Batch:
    """
    The `Batch` of `make_batch` from its tensors: ``labels`` B float32, ``dense``
    B x N float32 and ``values`` the B x F ids key-major (int64, F * B).
    """
    num_ids = batch_size * len(keys)
    sparse = KeyedJaggedTensor(
        keys=keys,
        values=values,
        lengths=torch.ones(num_ids, dtype=torch.int32),
        offsets=torch.arange(num_ids + 1, dtype=torch.int32),
        stride=batch_size,
    )
    return Batch(dense_features=dense, sparse_features=sparse, labels=labels)
