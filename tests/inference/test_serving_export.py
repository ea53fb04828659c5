import json
import os
import unittest

import numpy as np
import pyarrow.parquet as pq
import torch

from tests.inference.helpers import trained_model
from tests.inference.test_batch_prediction import _predict
from tests.multiprocess import run_multiprocess
from torchrec_dlf.data.parquet_loader import ParquetBatchLoader
from torchrec_dlf.inference.serving_export import export_for_serving
from torchrec_dlf.training.metrics import roc_auc


def _scores(path: str, data: str) -> np.ndarray:
    model = torch.jit.load(path)
    out = []
    with torch.no_grad():
        for batch in ParquetBatchLoader(data, "test", 1000, mode="eval"):
            out.append(
                model(batch.dense_features, batch.sparse_features).flatten().numpy()
            )
    return np.concatenate(out)


class ExportForServingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.trained = trained_model()
        cls.pred = os.path.join(cls.trained["tmp"], "pred_export")
        run_multiprocess(
            _predict, 1, cls.trained["best"], cls.trained["data"], cls.pred, "auto"
        )
        table = pq.read_table(cls.pred).sort_by("row_index")
        cls.logits = table.column("logit").to_numpy()
        cls.labels = torch.tensor(table.column("label").to_numpy()).float()

    def test_unquantized_export_matches_exactly(self) -> None:
        path = os.path.join(self.trained["tmp"], "fp32.pt")
        export_for_serving(self.trained["best"], path, quantization="none")
        np.testing.assert_allclose(
            _scores(path, self.trained["data"]), self.logits, atol=1e-5, rtol=0
        )

    def test_int8_export_within_tolerance(self) -> None:
        path = os.path.join(self.trained["tmp"], "int8.pt")
        manifest = export_for_serving(self.trained["best"], path, quantization="int8")
        scores = _scores(path, self.trained["data"])

        def prob(x: np.ndarray) -> np.ndarray:
            return 1 / (1 + np.exp(-x))

        self.assertLess(np.abs(prob(scores) - prob(self.logits)).max(), 0.02)
        self.assertAlmostEqual(
            roc_auc(torch.from_numpy(scores), self.labels),
            roc_auc(torch.from_numpy(self.logits), self.labels),
            delta=0.002,
        )
        with open(path + ".json") as f:
            self.assertEqual(json.load(f), json.loads(json.dumps(manifest)))
        self.assertEqual(
            manifest["inputs"]["sparse_features"], [f"C{i}" for i in range(1, 7)]
        )
        # The quantised tables really are int8 (smaller file than the fp32 export).
        fp32 = os.path.join(self.trained["tmp"], "fp32_size.pt")
        export_for_serving(self.trained["best"], fp32, quantization="none")
        self.assertLess(os.path.getsize(path), os.path.getsize(fp32))

    def test_unknown_quantization(self) -> None:
        with self.assertRaisesRegex(ValueError, "quantization"):
            export_for_serving(self.trained["best"], "x.pt", quantization="int4")
