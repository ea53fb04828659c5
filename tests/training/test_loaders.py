import tempfile
import unittest

import torch

from torchrec_dlf.data.synthetic import SyntheticConfig, generate
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.loaders import build_loaders
from torchrec_dlf.training.train_config import TrainConfig


class BuildLoadersTest(unittest.TestCase):
    def test_batch_sizes_modes_and_shuffling(self) -> None:
        ctx = DistributedContext(1, 2, 1, 2, torch.device("cpu"), "gloo")
        config = TrainConfig(batch_size=8, test_batch_size=16, shuffle_batches=False)
        with tempfile.TemporaryDirectory() as d:
            metadata = generate(
                SyntheticConfig(train_rows=64, valid_rows=32, test_rows=32), d
            )
            loaders = build_loaders(d, metadata, ctx, config)
            self.assertEqual(
                [loaders.train.batch_size, loaders.valid.batch_size],
                [8, 16],
            )
            self.assertEqual(loaders.test.batch_size, 16)
            self.assertEqual(loaders.train._mode, "train")
            self.assertEqual(loaders.valid._mode, "eval")
            self.assertFalse(loaders.train._shuffle)
            shuffled = build_loaders(d, metadata, ctx, TrainConfig())
            self.assertTrue(shuffled.train._shuffle)
            self.assertFalse(shuffled.valid._shuffle)


if __name__ == "__main__":
    unittest.main()
