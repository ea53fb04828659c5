import unittest

import torch
import torchrec
from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor
from torchrec.datasets.utils import Batch
from torchrec.models.dlrm import DLRM, DLRMTrain, OverArch

from torchrec_dlf import DLRM_DLF, DLFInteractionArch
from torchrec_dlf.modules.numeric_tokens import (
    EmptyDenseArch,
    NumericFieldEmbeddingArch,
)

D = 8
SMALL = dict(
    dlf_num_layers=2, dlf_tokens_per_block=3, dlf_rank=2, dlf_block_mlp_width=16
)


def _ebc() -> EmbeddingBagCollection:
    return EmbeddingBagCollection(
        tables=[
            EmbeddingBagConfig(
                name="t1",
                embedding_dim=D,
                num_embeddings=50,
                feature_names=["f1", "f3"],
            ),
            EmbeddingBagConfig(
                name="t2", embedding_dim=D, num_embeddings=20, feature_names=["f2"]
            ),
        ]
    )


def _kjt(batch: int = 2) -> KeyedJaggedTensor:
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(0, 3, (3 * batch,), generator=g)
    values = torch.randint(0, 20, (int(lengths.sum()),), generator=g)
    return KeyedJaggedTensor(keys=["f1", "f2", "f3"], values=values, lengths=lengths)


class DLRM_DLFTest(unittest.TestCase):
    def test_is_a_dlrm_with_dlf_inter_arch(self) -> None:
        model = DLRM_DLF(_ebc(), 13, [20, D], [32, 1], **SMALL)
        self.assertIsInstance(model, DLRM)
        self.assertIsInstance(model.inter_arch, DLFInteractionArch)
        self.assertIsInstance(model.over_arch, OverArch)
        self.assertEqual(model.inter_arch.output_dim, 3 * 3 * D)
        logits = model(dense_features=torch.rand(2, 13), sparse_features=_kjt())
        self.assertEqual(logits.shape, (2, 1))

    def test_inside_dlrm_train(self) -> None:
        model = DLRMTrain(DLRM_DLF(_ebc(), 13, [20, D], [32, 1], **SMALL))
        batch = Batch(
            dense_features=torch.rand(2, 13),
            sparse_features=_kjt(),
            labels=torch.tensor([0.0, 1.0]),
        )
        loss, (loss_detached, logits, labels) = model(batch)
        loss.backward()
        self.assertEqual(logits.shape, (2,))
        self.assertTrue(torch.isfinite(loss))
        self.assertIsNotNone(
            model.model.sparse_arch.embedding_bag_collection.embedding_bags[
                "t1"
            ].weight.grad
        )

    def test_fx_trace_and_script(self) -> None:
        model = DLRM_DLF(_ebc(), 13, [20, D], [32, 1], **SMALL).eval()
        dense, kjt = torch.rand(2, 13), _kjt()
        expected = model(dense, kjt)
        traced = torchrec.fx.symbolic_trace(model)
        torch.testing.assert_close(traced(dense, kjt), expected)
        scripted = torch.jit.script(traced)
        torch.testing.assert_close(scripted(dense, kjt), expected)

    def test_no_numeric_fields(self) -> None:
        model = DLRM_DLF(_ebc(), 0, [D], [32, 1], **SMALL)
        self.assertIsInstance(model.dense_arch, EmptyDenseArch)
        self.assertEqual(model.inter_arch.layers[0].high_order.projection.shape[0], 3)
        out = model(dense_features=torch.rand(2, 0), sparse_features=_kjt())
        self.assertEqual(out.shape, (2, 1))
        torch.jit.script(torchrec.fx.symbolic_trace(model.eval()))

    def test_per_field_numeric_tokens(self) -> None:
        model = DLRM_DLF(
            _ebc(), 4, [20, D], [32, 1], dense_embedding="per_field", **SMALL
        )
        self.assertIsInstance(model.dense_arch, NumericFieldEmbeddingArch)
        self.assertEqual(
            model.inter_arch.layers[0].high_order.projection.shape[0], 4 + 3
        )
        self.assertEqual(model(torch.rand(2, 4), _kjt()).shape, (2, 1))

    def test_invalid_arguments(self) -> None:
        with self.assertRaisesRegex(ValueError, "dense_embedding"):
            DLRM_DLF(_ebc(), 4, [20, D], [32, 1], dense_embedding="bucket")
        with self.assertRaisesRegex(ValueError, "must match"):
            DLRM_DLF(_ebc(), 4, [20, D + 1], [32, 1])
