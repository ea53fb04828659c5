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


def bag_rows_of(i: int) -> Dict[str, list]:
    """
    Row i of `write_bag_dataset`: C1 one id, G a bag of (i % 4) ids with weights
    (empty every fourth row), T a bag of (i * 7) % 3 ids.
    """
    return {
        "C1": (i * 3) % 11,
        "G": [(i + k) % 13 for k in range(i % 4)],
        "G_weight": [0.5 + k + i / 100 for k in range(i % 4)],
        "T": [(2 * i + k) % 7 for k in range((i * 7) % 3)],
    }


def write_bag_dataset(
    directory: str,
    rows: int = 23,
    row_group_rows: int = 5,
    file_rows: int = 15,
    pooling: str = "sum",
    weighted: bool = True,
) -> DatasetMetadata:
    """
    A hand-written multi-hot dataset of one ``train`` split: ``rows`` rows in files of
    ``file_rows`` rows, row groups of ``row_group_rows``; row i has label i % 2, I1 = i
    and the fields of `bag_rows_of` (G's weights recorded only when ``weighted``).
    """
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    from torchrec_dlf.data.metadata import BagInfo, SplitInfo

    os.makedirs(os.path.join(directory, "train"), exist_ok=True)
    files = []
    for part, start in enumerate(range(0, rows, file_rows)):
        idx = list(range(start, min(rows, start + file_rows)))
        bags = [bag_rows_of(i) for i in idx]
        table = pa.table(
            {
                "label": pa.array([i % 2 for i in idx], pa.int8()),
                "I1": pa.array(idx, pa.float32()),
                "C1": pa.array([b["C1"] for b in bags], pa.int32()),
                "G": pa.array([b["G"] for b in bags], pa.list_(pa.int32())),
                "T": pa.array([b["T"] for b in bags], pa.list_(pa.int32())),
                "G_weight": pa.array(
                    [b["G_weight"] for b in bags], pa.list_(pa.float32())
                ),
            }
        )
        rel = f"train/part-{part:05d}.parquet"
        pq.write_table(
            table, os.path.join(directory, rel), row_group_size=row_group_rows
        )
        files.append(rel)
    lengths = [
        (len(bag_rows_of(i)["G"]), len(bag_rows_of(i)["T"])) for i in range(rows)
    ]
    meta = DatasetMetadata(
        name="bags",
        numeric=["I1"],
        categorical=["C1", "G", "T"],
        vocab_sizes={"C1": 11, "G": 13, "T": 7},
        splits={"train": SplitInfo(files, rows, sum(i % 2 for i in range(rows)))},
        multi_hot={
            "G": BagInfo(
                max_length=3,
                mean_length=sum(g for g, _ in lengths) / rows,
                pooling=pooling,
                weights="G_weight" if weighted else None,
            ),
            "T": BagInfo(
                max_length=2,
                mean_length=sum(t for _, t in lengths) / rows,
                pooling=pooling,
            ),
        },
    )
    meta.identity = meta.compute_identity()
    meta.write(directory)
    return meta
