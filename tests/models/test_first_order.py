import unittest

import torch
import torchrec
from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor

from torchrec_dlf.models.first_order import DLRM_FirstOrder, FirstOrderInteractionArch


def _model() -> DLRM_FirstOrder:
    ebc = EmbeddingBagCollection(
        tables=[
            EmbeddingBagConfig(
                name="t1", embedding_dim=4, num_embeddings=10, feature_names=["f1"]
            ),
            EmbeddingBagConfig(
                name="t2", embedding_dim=4, num_embeddings=10, feature_names=["f2"]
            ),
        ]
    )
    return DLRM_FirstOrder(ebc, dense_in_features=3)


def _kjt(ids) -> KeyedJaggedTensor:
    # ids: [(f1 id, f2 id) per sample]
    values = torch.tensor([i for i, _ in ids] + [j for _, j in ids])
    return KeyedJaggedTensor(
        keys=["f1", "f2"],
        values=values,
        lengths=torch.ones(len(values), dtype=torch.int32),
    )


class FirstOrderInteractionArchTest(unittest.TestCase):
    def test_concatenates(self) -> None:
        dense, sparse = torch.rand(2, 3), torch.rand(2, 2, 4)
        out = FirstOrderInteractionArch(2)(dense_features=dense, sparse_features=sparse)
        torch.testing.assert_close(out, torch.cat([dense, sparse.reshape(2, 8)], dim=1))


class DLRM_FirstOrderTest(unittest.TestCase):
    def test_logit_is_additive_over_features(self) -> None:
        # No interaction: f(a, b) - f(a, b') is the same for every a.
        model = _model().eval()
        dense = torch.zeros(4, 3)
        out = model(dense, _kjt([(1, 2), (1, 5), (7, 2), (7, 5)])).flatten()
        torch.testing.assert_close(out[0] - out[1], out[2] - out[3])

    def test_fx_and_script(self) -> None:
        model = _model().eval()
        dense, kjt = torch.rand(2, 3), _kjt([(1, 2), (3, 4)])
        traced = torchrec.fx.symbolic_trace(model)
        torch.testing.assert_close(traced(dense, kjt), model(dense, kjt))
        torch.testing.assert_close(
            torch.jit.script(traced)(dense, kjt), model(dense, kjt)
        )

    def test_parameters(self) -> None:
        model = _model()
        self.assertEqual(model.over_arch.in_features, 3 + 2 * 4)
        self.assertIsInstance(model.dense_arch, torch.nn.Identity)
