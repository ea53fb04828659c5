import unittest

import torch
from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor
from torchrec.datasets.utils import Batch
from torchrec.models.dlrm import DLRM, DLRMTrain

from torchrec_dlf import DLRM_DLF
from torchrec_dlf.training.train_module import DLRMTrainModule


def _model(cls=DLRM, seed=0):
    torch.manual_seed(seed)
    ebc = EmbeddingBagCollection(
        tables=[
            EmbeddingBagConfig(
                name="t1",
                embedding_dim=4,
                num_embeddings=10,
                feature_names=["f1", "f2"],
            )
        ]
    )
    if cls is DLRM_DLF:
        return DLRM_DLF(
            ebc,
            3,
            [8, 4],
            [8, 1],
            dlf_num_layers=1,
            dlf_tokens_per_block=2,
            dlf_rank=2,
            dlf_block_mlp_width=8,
        )
    return cls(ebc, 3, [8, 4], [8, 1])


def _batch() -> Batch:
    g = torch.Generator().manual_seed(1)
    kjt = KeyedJaggedTensor(
        keys=["f1", "f2"],
        values=torch.randint(0, 10, (8,), generator=g),
        lengths=torch.ones(8, dtype=torch.int32),
    )
    return Batch(
        dense_features=torch.rand(4, 3, generator=g),
        sparse_features=kjt,
        labels=torch.tensor([0.0, 1.0, 1.0, 0.0]),
    )


class DLRMTrainModuleTest(unittest.TestCase):
    def test_zero_penalty_is_dlrm_train(self) -> None:
        for cls in (DLRM, DLRM_DLF):
            a, b = DLRMTrainModule(_model(cls)), DLRMTrain(_model(cls))
            a.eval(), b.eval()
            la, (_, logits_a, _) = a(_batch())
            lb, (_, logits_b, _) = b(_batch())
            torch.testing.assert_close(la, lb)
            torch.testing.assert_close(logits_a, logits_b)

    def test_penalty_on_looked_up_embeddings(self) -> None:
        model = DLRMTrainModule(_model(), embedding_l2=0.1)
        batch = _batch()
        loss, (bce, logits, _) = model(batch)
        embedded = model.model.sparse_arch(batch.sparse_features)
        penalty = embedded.square().sum(dim=(1, 2)).mean()
        torch.testing.assert_close(loss, bce + 0.1 * penalty)
        torch.testing.assert_close(
            bce,
            torch.nn.functional.binary_cross_entropy_with_logits(logits, batch.labels),
        )
        model.eval()
        eval_loss, (eval_bce, _, _) = model(batch)
        torch.testing.assert_close(eval_loss, eval_bce)  # no penalty in evaluation

    def test_penalty_gradient_reaches_only_used_rows(self) -> None:
        plain = DLRMTrainModule(_model(), embedding_l2=0.0)
        reg = DLRMTrainModule(_model(), embedding_l2=1.0)
        batch = _batch()
        for m in (plain, reg):
            m(batch)[0].backward()

        def weight(m):  # pyre-ignore[2,3]
            return m.model.sparse_arch.embedding_bag_collection.embedding_bags[
                "t1"
            ].weight

        diff = (weight(reg).grad - weight(plain).grad).abs().sum(dim=1)
        used = set(batch.sparse_features.values().tolist())
        for row in range(10):
            self.assertEqual(diff[row].item() > 0, row in used, row)

    def test_negative_penalty_rejected(self) -> None:
        with self.assertRaisesRegex(ValueError, "embedding_l2"):
            DLRMTrainModule(_model(), embedding_l2=-1.0)


def _explicit_forward(module: DLRMTrainModule, batch: Batch):  # pyre-ignore[3]
    """The archs called one by one, only the dense ones under autocast: what
    `DLRMTrainModule.forward` did before it ran `DLRM.forward`."""
    model = module.model
    bf16 = module.dense_precision == "bf16"
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        dense = model.dense_arch(batch.dense_features)
    sparse = model.sparse_arch(batch.sparse_features)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model.over_arch(
            model.inter_arch(dense_features=dense, sparse_features=sparse)
        )
    logits = logits.squeeze(-1).float()
    loss = module.loss_fn(logits, batch.labels.float())
    penalty = module.embedding_l2 * sparse.square().sum(dim=(1, 2)).mean()
    return loss + penalty, logits


class DLRMTrainModuleNumericsTest(unittest.TestCase):
    def test_same_loss_logits_and_gradients_as_the_archs_one_by_one(self) -> None:
        for precision in ("fp32", "bf16"):
            module = DLRMTrainModule(
                _model(DLRM_DLF), embedding_l2=0.1, dense_precision=precision
            )
            loss, (_, logits, _) = module(_batch())
            loss.backward()
            grads = {n: p.grad.clone() for n, p in module.named_parameters()}
            module.zero_grad()
            want_loss, want_logits = _explicit_forward(module, _batch())
            want_loss.backward()
            self.assertTrue(torch.equal(loss, want_loss), precision)
            self.assertTrue(torch.equal(logits, want_logits), precision)
            for name, p in module.named_parameters():
                self.assertTrue(torch.equal(grads[name], p.grad), (precision, name))

    def test_records_the_embedding_gradient_norm(self) -> None:
        module = DLRMTrainModule(_model(DLRM_DLF))
        module(_batch())[0].backward()
        self.assertEqual(module.last_embedding_grad_norm, 0.0)  # tracking is off
        module.track_embedding_gradient = True
        module(_batch())[0].backward()
        self.assertGreater(module.last_embedding_grad_norm, 0.0)

    def test_no_hook_left_on_the_sparse_arch(self) -> None:
        module = DLRMTrainModule(_model())
        module(_batch())
        self.assertEqual(len(module.model.sparse_arch._forward_hooks), 0)


class DLRMTrainModulePrecisionTest(unittest.TestCase):
    def test_bf16_dense_compute_close_to_fp32(self) -> None:
        fp32 = DLRMTrainModule(_model(DLRM_DLF)).eval()
        bf16 = DLRMTrainModule(_model(DLRM_DLF), dense_precision="bf16").eval()
        batch = _batch()
        _, (_, a, _) = fp32(batch)
        loss, (_, b, _) = bf16(batch)
        self.assertEqual(b.dtype, torch.float32)
        self.assertEqual(loss.dtype, torch.float32)
        self.assertFalse(torch.equal(a, b))  # bf16 really ran
        torch.testing.assert_close(a, b, atol=0.05, rtol=0.05)

    def test_bf16_keeps_fp32_parameters_and_trains(self) -> None:
        model = DLRMTrainModule(_model(DLRM_DLF), dense_precision="bf16")
        loss, _ = model(_batch())
        loss.backward()
        for name, p in model.named_parameters():
            self.assertEqual(p.dtype, torch.float32, name)
            if p.requires_grad and "embedding" not in name:
                self.assertIsNotNone(p.grad, name)

    def test_invalid_precision(self) -> None:
        with self.assertRaisesRegex(ValueError, "dense_precision"):
            DLRMTrainModule(_model(), dense_precision="fp16")
