import unittest

import numpy as np
import torch

from torchrec_dlf.data.batching import make_batch, tensor_batch


class BatchingTest(unittest.TestCase):
    def test_make_batch_is_key_major_one_id_per_sample(self) -> None:
        cat = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int32)
        batch = make_batch(
            np.array([0, 1, 0], np.int8), np.ones((3, 1), np.float32), cat, ["a", "b"]
        )
        kjt = batch.sparse_features
        self.assertEqual(kjt.values().tolist(), [1, 3, 5, 2, 4, 6])
        self.assertEqual(kjt["b"].values().tolist(), [2, 4, 6])
        self.assertEqual(kjt.stride(), 3)
        self.assertEqual(batch.labels.dtype, torch.float32)
        same = tensor_batch(
            batch.labels, batch.dense_features, kjt.values(), ["a", "b"], 3
        )
        self.assertTrue(torch.equal(same.sparse_features.offsets(), kjt.offsets()))
        self.assertTrue(torch.equal(same.sparse_features.lengths(), kjt.lengths()))
