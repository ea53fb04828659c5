import unittest

import torch
from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor
from torchrec.datasets.utils import Batch
from torchrec.optim.keyed import KeyedOptimizerWrapper

from torchrec_dlf import DLRM_DLF
from torchrec_dlf.training.gradient_norms import (
    GradientNormTracker,
    dlf_stream_parameters,
)
from torchrec_dlf.training.train_module import DLRMTrainModule


def _setup(every: int = 1):
    torch.manual_seed(0)
    ebc = EmbeddingBagCollection(
        tables=[
            EmbeddingBagConfig(
                name="t", embedding_dim=8, num_embeddings=20, feature_names=["a", "b"]
            )
        ]
    )
    module = DLRMTrainModule(
        DLRM_DLF(
            ebc,
            2,
            [8, 8],
            [16, 1],
            dlf_num_layers=2,
            dlf_tokens_per_block=2,
            dlf_rank=2,
            dlf_block_mlp_width=8,
        )
    )
    # The branch scale starts at 0 (ReZero), which leaves the streams without gradient
    # before the first update; move it off zero so every stream has a norm to record.
    with torch.no_grad():
        for layer in module.model.inter_arch.layers:
            layer.branch_scale.fill_(0.5)
    optimizer = KeyedOptimizerWrapper(
        dict(module.named_parameters()), lambda p: torch.optim.SGD(p, lr=0.1)
    )
    return module, GradientNormTracker(optimizer, module, module, every)


def _batch() -> Batch:
    kjt = KeyedJaggedTensor(
        keys=["a", "b"],
        values=torch.tensor([1, 2, 3, 4, 5, 6, 7, 8]),
        lengths=torch.ones(8, dtype=torch.int32),
    )
    return Batch(
        dense_features=torch.rand(4, 2),
        sparse_features=kjt,
        labels=torch.tensor([0.0, 1.0, 1.0, 0.0]),
    )


class DLFStreamParametersTest(unittest.TestCase):
    def test_streams_come_from_the_dlf_arch(self) -> None:
        module, _ = _setup()
        want = module.model.inter_arch.stream_parameters()
        got = dlf_stream_parameters(module)
        self.assertEqual(list(got), ["alpha", "beta", "gamma", "fusion", "residual"])
        for group, params in want.items():
            self.assertEqual([id(p) for p in got[group]], [id(p) for p in params])

    def test_no_dlf_arch_no_streams(self) -> None:
        self.assertEqual(dlf_stream_parameters(torch.nn.Linear(2, 1)), {})


class GradientNormTrackerTest(unittest.TestCase):
    def test_switches_on_embedding_gradient_tracking(self) -> None:
        module, _ = _setup()
        self.assertTrue(module.track_embedding_gradient)

    def test_records_norms_before_the_update(self) -> None:
        module, tracker = _setup()
        module.train()
        module(_batch())[0].backward()
        expected = {}
        for group, params in module.model.inter_arch.stream_parameters().items():
            grads = [p.grad for p in params if p.grad is not None]
            expected[group] = torch.sqrt(sum(g.pow(2).sum() for g in grads)).item()
        self.assertEqual(len(expected), 5)
        tracker.step()
        for group, value in expected.items():
            self.assertAlmostEqual(tracker.history[group][0], value, places=5)
        self.assertGreater(tracker.history["embeddings"][0], 0.0)
        self.assertEqual(
            tracker.history["embeddings"][0], module.last_embedding_grad_norm
        )
        self.assertEqual(tracker.history["step"], [1.0])
        summary = tracker.summary()
        self.assertAlmostEqual(summary["ratio_to_beta"]["beta"], 1.0)
        self.assertEqual(summary["recorded_steps"], 1)

    def test_every_n_steps(self) -> None:
        module, tracker = _setup(every=3)
        module.train()
        for _ in range(7):
            tracker.zero_grad()
            module(_batch())[0].backward()
            tracker.step()
        self.assertEqual(tracker.history["step"], [3.0, 6.0])
