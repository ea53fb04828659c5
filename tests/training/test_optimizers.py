"""Embedding optimizer rules: which optimizers run where."""

import unittest

import torch
from torchrec.modules.embedding_configs import EmbeddingBagConfig
from torchrec.modules.embedding_modules import EmbeddingBagCollection
from torchrec.optim.rowwise_adagrad import RowWiseAdagrad

from torchrec_dlf.training.optimizers import (
    apply_embedding_optimizer,
    single_kernel_options,
)


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


class SingleKernelOptionsTest(unittest.TestCase):
    def test_fused_where_torch_has_the_kernel(self) -> None:
        params = [
            torch.nn.Parameter(torch.randn(4, 3)),
            torch.nn.Parameter(torch.randn(3)),
        ]
        adam = torch.optim.Adam
        self.assertEqual(single_kernel_options(adam, params), {"fused": True})
        self.assertEqual(single_kernel_options(adam, []), {})
        self.assertEqual(single_kernel_options(RowWiseAdagrad, params), {})
        self.assertEqual(
            single_kernel_options(adam, [torch.zeros(2, dtype=torch.int64)]), {}
        )

    def test_fused_dense_steps_match_the_per_tensor_loop(self) -> None:
        for cls in (torch.optim.Adam, torch.optim.Adagrad, torch.optim.SGD):
            torch.manual_seed(0)
            start = [torch.randn(16, 8), torch.randn(8)]
            loop = [torch.nn.Parameter(t.clone()) for t in start]
            fused = [torch.nn.Parameter(t.clone()) for t in start]
            opts = (
                cls(loop, lr=0.01),
                cls(fused, lr=0.01, **single_kernel_options(cls, fused)),
            )
            self.assertTrue(opts[1].defaults["fused"])
            for _ in range(5):
                grads = [torch.randn_like(t) for t in start]
                for params, opt in zip((loop, fused), opts):
                    for p, g in zip(params, grads):
                        p.grad = g.clone()
                    opt.step()
            for a, b, s in zip(loop, fused, start):
                self.assertFalse(torch.equal(b, s))  # the fused steps moved it
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
