import os
import tempfile
import unittest

import numpy as np
import pyarrow.parquet as pq

from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.data.parquet_loader import ParquetBatchLoader
from torchrec_dlf.data.synthetic import (
    ensure_synthetic_dataset,
    generate,
    SyntheticConfig,
    SyntheticTeacher,
)
from torchrec_dlf.training.metrics import roc_auc
from tests.multiprocess import run_multiprocess

import torch

SMALL = SyntheticConfig(train_rows=3000, valid_rows=500, test_rows=500, row_group_rows=512)


def _ensure_in(rank: int, world: int, cache: str) -> str:
    return ensure_synthetic_dataset(SMALL, cache)


class SyntheticConfigTest(unittest.TestCase):
    def test_cache_key_tracks_every_field(self) -> None:
        self.assertEqual(SMALL.cache_key(), SyntheticConfig(**SMALL.__dict__).cache_key())
        self.assertNotEqual(SMALL.cache_key(), SyntheticConfig(**{**SMALL.__dict__, "seed": 1}).cache_key())
        self.assertEqual(len(SMALL.numeric_names), 13)
        self.assertEqual(SMALL.categorical_names[-1], "C26")


class SyntheticTeacherTest(unittest.TestCase):
    def test_criteo_shape_and_zipf_ids(self) -> None:
        teacher = SyntheticTeacher(SyntheticConfig())
        labels, numeric, cat = teacher.sample(np.random.default_rng(0), 20000)
        self.assertEqual(numeric.shape, (20000, 13))
        self.assertEqual(cat.shape, (20000, 26))
        self.assertTrue((numeric >= 0).all())
        self.assertTrue(((cat >= 0) & (cat < np.array(teacher.vocab_sizes))).all())
        self.assertAlmostEqual(labels.mean(), 0.25, delta=0.02)
        # Zipf: in the largest table the top 1% of ids carry far more than 1% of the rows.
        f = int(np.argmax(teacher.vocab_sizes))
        counts = np.sort(np.bincount(cat[:, f], minlength=teacher.vocab_sizes[f]))[::-1]
        top = max(1, teacher.vocab_sizes[f] // 100)
        self.assertGreater(counts[:top].sum() / counts.sum(), 0.2)

    def test_labels_need_interactions(self) -> None:
        # The teacher's own scores: interactions add a clear margin over its first-order part.
        teacher = SyntheticTeacher(SyntheticConfig())
        labels, numeric, cat = teacher.sample(np.random.default_rng(1), 50000)
        y = torch.from_numpy(labels.astype(np.float32))
        full = roc_auc(torch.from_numpy(teacher.logit(numeric, cat)), y)
        first = roc_auc(torch.from_numpy(teacher.first_order_logit(numeric, cat)), y)
        self.assertGreater(full - first, 0.1)

    def test_deterministic(self) -> None:
        a = SyntheticTeacher(SMALL).sample(np.random.default_rng(3), 100)
        b = SyntheticTeacher(SMALL).sample(np.random.default_rng(3), 100)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


class GenerateTest(unittest.TestCase):
    def test_written_dataset_reads_back(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            meta = generate(SMALL, os.path.join(d, "a"))
            generate(SMALL, os.path.join(d, "b"))
            self.assertEqual({k: v.rows for k, v in meta.splits.items()}, {"train": 3000, "valid": 500, "test": 500})
            self.assertEqual(meta.vocab_sizes, dict(zip(SMALL.categorical_names, SyntheticTeacher(SMALL).vocab_sizes)))
            for split in ("train", "test"):
                ta = pq.read_table(os.path.join(d, "a", meta.split(split).files[0]))
                tb = pq.read_table(os.path.join(d, "b", meta.split(split).files[0]))
                self.assertTrue(ta.equals(tb))
            batches = list(ParquetBatchLoader(os.path.join(d, "a"), "valid", 128, mode="eval"))
            self.assertEqual(sum(b.labels.numel() for b in batches), 500)
            self.assertEqual(batches[0].dense_features.shape[1], 13)
            self.assertEqual(len(batches[0].sparse_features.keys()), 26)

    def test_cache_is_shared_between_processes(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            dirs = run_multiprocess(_ensure_in, 2, d)
            self.assertEqual(dirs[0], dirs[1])
            self.assertEqual(DatasetMetadata.read(dirs[0]).split("train").rows, 3000)
            entries = sorted(e for e in os.listdir(d) if not e.endswith(".lock"))
            self.assertEqual(entries, [os.path.basename(dirs[0])])
