import json
import os
import unittest

import numpy as np
import pyarrow.parquet as pq
import torch

from tests.inference.helpers import trained_model
from tests.multiprocess import run_multiprocess
from torchrec_dlf.data.metadata import DatasetFormatError, DatasetMetadata
from torchrec_dlf.inference.batch_prediction import predict_split
from torchrec_dlf.inference.checkpoint_model import check_vocabulary, read_description
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.metrics import log_loss, roc_auc


def _predict(
    rank: int, world: int, checkpoint: str, data: str, out: str, sharding: str
):
    ctx = DistributedContext(rank, world, rank, world, torch.device("cpu"), "gloo")
    return predict_split(
        checkpoint, data, "test", out, ctx, batch_size=700, sharding=sharding
    )


class PredictSplitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.trained = trained_model()
        cls.metrics = json.loads(cls.trained["metrics"])

    def test_predictions_equal_the_models_own_evaluation(self) -> None:
        # Trained on 2 ranks (table_wise); scored on 3 ranks with another sharding.
        out = os.path.join(self.trained["tmp"], "pred3")
        stats = run_multiprocess(
            _predict, 3, self.trained["best"], self.trained["data"], out, "row_wise"
        )
        self.assertEqual(sum(s["rows"] for s in stats), 3001)
        table = pq.read_table(out).sort_by("row_index")
        self.assertEqual(table.column("row_index").to_pylist(), list(range(3001)))
        logits = torch.tensor(table.column("logit").to_numpy())
        labels = torch.tensor(table.column("label").to_numpy()).float()
        probability = table.column("probability").to_numpy()
        np.testing.assert_allclose(
            probability, 1 / (1 + np.exp(-logits.numpy())), rtol=1e-6
        )
        self.assertAlmostEqual(
            roc_auc(logits, labels), self.metrics["test"]["auc"], places=9
        )
        self.assertAlmostEqual(
            log_loss(logits, labels), self.metrics["test"]["logloss"], places=6
        )
        test_file = os.path.join(self.trained["data"], "test", "part-00000.parquet")
        np.testing.assert_array_equal(
            table.column("label").to_numpy(),
            pq.read_table(test_file).column("label").to_numpy(),
        )
        self.assertFalse(os.path.exists(out + ".tmp"))

    def test_wrong_vocabulary_is_refused(self) -> None:
        description = read_description(self.trained["best"])
        meta = DatasetMetadata.read(self.trained["data"])
        check_vocabulary(description, meta)
        meta.vocab_sizes["C1"] += 1
        with self.assertRaisesRegex(
            DatasetFormatError, r"vocabulary sizes differ \(C1 \d+ vs \d+\)"
        ):
            check_vocabulary(description, meta)

    def test_not_a_checkpoint(self) -> None:
        with self.assertRaisesRegex(FileNotFoundError, "not a checkpoint"):
            read_description(self.trained["data"])
