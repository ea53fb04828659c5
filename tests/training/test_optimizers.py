"""Embedding optimizer rules: which optimizers run where."""

import unittest

import torch
from torchrec.modules.embedding_configs import EmbeddingBagConfig
from torchrec.modules.embedding_modules import EmbeddingBagCollection

from torchrec_dlf.training.optimizers import apply_embedding_optimizer


def _ebc() -> EmbeddingBagCollection:
    tables = [
        EmbeddingBagConfig(
            name="t0", embedding_dim=4, num_embeddings=10, feature_names=["f0"]
        )
    ]
    return EmbeddingBagCollection(tables=tables, device=torch.device("meta"))


class ApplyEmbeddingOptimizerTest(unittest.TestCase):
    def test_fused_adam_is_refused_on_cpu(self) -> None:
        with self.assertRaisesRegex(
            ValueError, "no fused Adam on the CPU.*--sharding data_parallel"
        ):
            apply_embedding_optimizer(_ebc(), "adam", 1e-3, torch.device("cpu"))

    def test_adam_on_cpu_for_replicated_tables(self) -> None:
        ebc = _ebc()
        apply_embedding_optimizer(
            ebc, "adam", 1e-3, torch.device("cpu"), has_fused_tables=False
        )
        param = next(ebc.parameters())
        self.assertIs(param._optimizer_classes[0], torch.optim.Adam)

    def test_unknown_optimizer(self) -> None:
        with self.assertRaisesRegex(ValueError, "embedding optimizer must be one of"):
            apply_embedding_optimizer(_ebc(), "lamb", 1e-3, torch.device("cpu"))
