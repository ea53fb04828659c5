"""Small prepared datasets whose rows are easy to recognise."""

from typing import Dict, Optional

import numpy as np

from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.data.writer import PreparedDatasetWriter


def write_indexed_dataset(
    directory: str,
    rows: Dict[str, int],
    row_group_rows: int = 16,
    num_numeric: int = 2,
    num_categorical: int = 3,
    file_rows: int = 1_000_000,
    vocab: int = 1_000_000,
) -> DatasetMetadata:
    """
    Row i of every split has: label i % 2, numeric field j = i + j / 10, categorical
    field j = (i * (j + 1)) % vocab. So a batch tells exactly which rows it holds.
    """
    numeric = [f"I{j + 1}" for j in range(num_numeric)]
    categorical = [f"C{j + 1}" for j in range(num_categorical)]
    writer = PreparedDatasetWriter(
        directory, "indexed", numeric, categorical, row_group_rows, file_rows
    )
    with writer:
        for split, n in rows.items():
            idx = np.arange(n)
            writer.write(
                split,
                (idx % 2).astype(np.int8),
                np.stack([idx + j / 10 for j in range(num_numeric)], axis=1).astype(
                    np.float32
                )
                if num_numeric
                else np.zeros((n, 0), np.float32),
                np.stack(
                    [(idx * (j + 1)) % vocab for j in range(num_categorical)], axis=1
                ),
            )
        return writer.commit({c: vocab for c in categorical}, source={"test": True})


def row_ids(batch) -> np.ndarray:  # pyre-ignore[2]
    """Row indices of a batch of an indexed dataset (its first numeric field)."""
    return batch.dense_features[:, 0].round().long().numpy()


def row_ids_or_none(
    batch, pad_label: Optional[float] = -1.0
) -> np.ndarray:  # pyre-ignore
    ids = row_ids(batch)
    return ids[batch.labels.numpy() != pad_label]


def assert_same_batches(test, expected, actual) -> None:  # pyre-ignore[2]
    """Equal numbers of batches with equal labels, dense features and KJTs."""
    import torch

    test.assertEqual(len(expected), len(actual))
    for a, b in zip(expected, actual):
        test.assertTrue(torch.equal(a.labels, b.labels))
        test.assertEqual(a.labels.dtype, b.labels.dtype)
        test.assertTrue(torch.equal(a.dense_features, b.dense_features))
        x, y = a.sparse_features, b.sparse_features
        test.assertEqual(x.keys(), y.keys())
        test.assertEqual(x.stride(), y.stride())
        for name in ("values", "lengths", "offsets"):
            test.assertTrue(torch.equal(getattr(x, name)(), getattr(y, name)()))
