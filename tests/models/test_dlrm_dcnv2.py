import unittest

import torch
import torchrec
from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor

from torchrec_dlf.models.dlrm_dcnv2 import DLRM_DCNv2, ParallelDCNInteractionArch


def _kjt() -> KeyedJaggedTensor:
    return KeyedJaggedTensor(
        keys=["f1", "f2"],
        values=torch.tensor([1, 2, 3, 4]),
        lengths=torch.ones(4, dtype=torch.int32),
    )


def _ebc() -> EmbeddingBagCollection:
    return EmbeddingBagCollection(
        tables=[
            EmbeddingBagConfig(
                name="t", embedding_dim=8, num_embeddings=10, feature_names=["f1", "f2"]
            )
        ]
    )


class ParallelDCNInteractionArchTest(unittest.TestCase):
    def test_cross_beside_deep(self) -> None:
        arch = ParallelDCNInteractionArch(2, 8, mlp_layer_sizes=[16, 12]).eval()
        dense, sparse = torch.rand(3, 8), torch.rand(3, 2, 8)
        out = arch(dense_features=dense, sparse_features=sparse)
        self.assertEqual(out.shape, (3, 24 + 12))
        x0 = torch.cat([dense, sparse.flatten(1)], dim=1)
        torch.testing.assert_close(out[:, :24], arch.crossnet(x0))
        torch.testing.assert_close(out[:, 24:], arch.deep(x0))

    def test_no_dense_token_and_script(self) -> None:
        arch = ParallelDCNInteractionArch(
            2, 8, num_dense_tokens=0, mlp_layer_sizes=[16]
        ).eval()
        out = arch(dense_features=torch.rand(3, 0), sparse_features=torch.rand(3, 2, 8))
        self.assertEqual(out.shape, (3, 16 + 16))
        # TorchRec's CrossNet loops over its layers: script it after fx unrolls the loop.
        scripted = torch.jit.script(torchrec.fx.symbolic_trace(arch))
        dense, sparse = torch.rand(3, 0), torch.rand(3, 2, 8)
        torch.testing.assert_close(
            scripted(dense, sparse), arch(dense_features=dense, sparse_features=sparse)
        )


class DLRM_DCNv2Test(unittest.TestCase):
    def test_forward_trace_and_script(self) -> None:
        model = DLRM_DCNv2(
            _ebc(), 3, [8, 8], [16, 1], dcnv2_mlp_layer_sizes=[16]
        ).eval()
        dense = torch.rand(2, 3)
        out = model(dense, _kjt())
        self.assertEqual(out.shape, (2, 1))
        traced = torchrec.fx.symbolic_trace(model)
        torch.testing.assert_close(torch.jit.script(traced)(dense, _kjt()), out)

    def test_linear_head(self) -> None:
        model = DLRM_DCNv2(_ebc(), 3, [8, 8], [1], dcnv2_mlp_layer_sizes=[16]).eval()
        self.assertIsInstance(model.over_arch, torch.nn.Linear)
        self.assertEqual(model.over_arch.in_features, 24 + 16)
        self.assertEqual(model(torch.rand(2, 3), _kjt()).shape, (2, 1))

    def test_without_numeric_fields(self) -> None:
        model = DLRM_DCNv2(_ebc(), 0, [8], [16, 1], dcnv2_mlp_layer_sizes=[16])
        self.assertEqual(model(torch.rand(2, 0), _kjt()).shape, (2, 1))
