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
    batch_size, num_features = categorical.shape
    # KJT values are key-major: all samples of feature 0, then feature 1, ...
    values = torch.from_numpy(
        np.ascontiguousarray(categorical.T, dtype=np.int64).reshape(-1)
    )
    num_ids = batch_size * num_features
    sparse = KeyedJaggedTensor(
        keys=keys,
        values=values,
        lengths=torch.ones(num_ids, dtype=torch.int32),
        offsets=torch.arange(num_ids + 1, dtype=torch.int32),
        stride=batch_size,
    )
    return Batch(
        dense_features=torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32)),
        sparse_features=sparse,
        labels=torch.from_numpy(np.asarray(labels, dtype=np.float32)),
    )
