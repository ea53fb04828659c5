import unittest

import torch
import torchrec
from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor
from torchrec.models.dlrm import DLRMTrain

from torchrec_dlf.models.dlrm_deepfm import DeepFMInteractionArch, DLRM_DeepFM


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


class DeepFMInteractionArchTest(unittest.TestCase):
    def test_first_order_fm_and_deep_parts(self) -> None:
        arch = DeepFMInteractionArch(
            3, 4, num_dense_tokens=1, mlp_layer_sizes=[6]
        ).eval()
        dense, sparse = torch.rand(5, 4), torch.rand(5, 3, 4)
        out = arch(dense_features=dense, sparse_features=sparse)
        self.assertEqual(out.shape, (5, 16 + 1 + 6))
        tokens = torch.cat([dense.unsqueeze(1), sparse], dim=1)
        torch.testing.assert_close(out[:, :16], tokens.flatten(1))
        # FM: sum over pairs i < j of <e_i, e_j>
        pairs = sum(
            (tokens[:, i] * tokens[:, j]).sum(-1)
            for i in range(4)
            for j in range(i + 1, 4)
        )
        torch.testing.assert_close(out[:, 16], pairs)
        torch.testing.assert_close(
            out[:, 17:], arch.deep.dense_module(tokens.flatten(1))
        )

    def test_no_dense_token(self) -> None:
        arch = DeepFMInteractionArch(
            2, 8, num_dense_tokens=0, mlp_layer_sizes=[16]
        ).eval()
        out = arch(dense_features=torch.rand(3, 0), sparse_features=torch.rand(3, 2, 8))
        self.assertEqual(out.shape, (3, 16 + 1 + 16))

    def test_per_sample(self) -> None:
        arch = DeepFMInteractionArch(2, 8, mlp_layer_sizes=[16]).eval()
        dense, sparse = torch.rand(4, 8), torch.rand(4, 2, 8)
        full = arch(dense_features=dense, sparse_features=sparse)
        one = arch(dense_features=dense[1:2], sparse_features=sparse[1:2])
        torch.testing.assert_close(one, full[1:2])


class DLRM_DeepFMTest(unittest.TestCase):
    def test_forward_trace_and_script(self) -> None:
        model = DLRM_DeepFM(_ebc(), 3, [8, 8], [1], deepfm_mlp_layer_sizes=[16]).eval()
        self.assertIsInstance(model.over_arch, torch.nn.Linear)
        dense = torch.rand(2, 3)
        out = model(dense, _kjt())
        self.assertEqual(out.shape, (2, 1))
        traced = torchrec.fx.symbolic_trace(model)
        torch.testing.assert_close(torch.jit.script(traced)(dense, _kjt()), out)

    def test_mlp_head_and_train_wrapper(self) -> None:
        model = DLRMTrain(
            DLRM_DeepFM(_ebc(), 0, [8], [16, 1], deepfm_mlp_layer_sizes=[16])
        )
        from torchrec.datasets.utils import Batch

        batch = Batch(
            dense_features=torch.rand(2, 0),
            sparse_features=_kjt(),
            labels=torch.tensor([0.0, 1.0]),
        )
        loss, (_, logits, _) = model(batch)
        loss.backward()
        self.assertEqual(logits.shape, (2,))


if __name__ == "__main__":
    unittest.main()
