"""The synthetic generator's multi-hot mode (MLPerf DLRMv2 style bags)."""

import hashlib
import json
import os
import tempfile
import unittest
from dataclasses import asdict

import numpy as np
import pyarrow.parquet as pq

from torchrec_dlf.data.parquet_loader import ParquetBatchLoader
from torchrec_dlf.data.synthetic import SyntheticConfig, SyntheticTeacher, generate
from torchrec_dlf.user_errors import ConfigError

ONE_HOT = SyntheticConfig(
    train_rows=600,
    valid_rows=100,
    test_rows=100,
    num_numeric=2,
    num_categorical=4,
    row_group_rows=128,
)


def _bags(config: SyntheticConfig, sizes: str, distribution: str) -> SyntheticConfig:
    return SyntheticConfig(
        **{**asdict(config), "multi_hot": sizes, "multi_hot_distribution": distribution}
    )


class SyntheticMultiHotTest(unittest.TestCase):
    def test_one_hot_cache_key_and_options_unchanged(self) -> None:
        raw = {"generator": 2, **asdict(ONE_HOT)}
        for name in ("multi_hot", "multi_hot_distribution", "multi_hot_pooling"):
            del raw[name]
        old = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
        self.assertEqual(ONE_HOT.cache_key(), old[:12])
        self.assertNotEqual(_bags(ONE_HOT, "3", "uniform").cache_key(), old[:12])
        self.assertEqual(_bags(ONE_HOT, "3,2,1,1", "pareto").bag_sizes, [3, 2, 1, 1])
        for bad in ("3,2", "0", "x"):
            with self.assertRaisesRegex(ConfigError, "multi_hot"):
                _bags(ONE_HOT, bad, "uniform").bag_sizes
        with self.assertRaisesRegex(ConfigError, "multi_hot_distribution"):
            _bags(ONE_HOT, "2", "zipf").bag_sizes

    def test_bags_start_with_the_one_hot_ids(self) -> None:
        teacher = SyntheticTeacher(ONE_HOT)
        with tempfile.TemporaryDirectory() as d:
            one_hot = generate(ONE_HOT, os.path.join(d, "one_hot"))
            for distribution in ("uniform", "pareto"):
                config = _bags(ONE_HOT, "3,2,1,4", distribution)
                directory = os.path.join(d, distribution)
                meta = generate(config, directory)
                self.assertEqual(sorted(meta.multi_hot), ["C1", "C2", "C4"])
                self.assertEqual(meta.multi_hot["C4"].max_length, 4)
                self.assertEqual(meta.multi_hot["C4"].mean_length, 4.0)
                self.assertEqual(meta.pooling_factor("C3"), 1.0)
                self.assertNotEqual(meta.identity, one_hot.identity)
                a = pq.read_table(
                    os.path.join(d, "one_hot", one_hot.split("valid").files[0])
                )
                b = pq.read_table(os.path.join(directory, meta.split("valid").files[0]))
                self.assertFalse(a.column("label").equals(b.column("label")))
                for f, size in zip(ONE_HOT.categorical_names, (3, 2, 1, 4)):
                    first = a.column(f).to_numpy()
                    if size == 1:
                        self.assertTrue(a.column(f).equals(b.column(f)))
                        continue
                    bags = np.array(b.column(f).to_pylist())
                    self.assertEqual(bags.shape, (100, size))
                    np.testing.assert_array_equal(bags[:, 0], first)
                    vocab = teacher.vocab_sizes[ONE_HOT.categorical_names.index(f)]
                    self.assertTrue(((bags >= 0) & (bags < vocab)).all())
                    # The same id always brings the same bag.
                    again = {int(r[0]): tuple(r) for r in bags}
                    self.assertTrue(all(again[int(r[0])] == tuple(r) for r in bags))
                batch = next(iter(ParquetBatchLoader(directory, "train", 64)))
                kjt = batch.sparse_features
                self.assertEqual(kjt.lengths().view(4, 64)[:, 0].tolist(), [3, 2, 1, 4])


if __name__ == "__main__":
    unittest.main()
