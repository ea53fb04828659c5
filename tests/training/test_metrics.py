import math
import unittest
from typing import Dict, Tuple

import torch
from torchmetrics.functional.classification import binary_auroc

from tests.multiprocess import run_multiprocess
from torchrec_dlf.training.metrics import (
    PredictionCollector,
    binary_metrics,
    gather_rows,
    log_loss,
    roc_auc,
)
from torchrec_dlf.training.rec_metrics import (
    EVAL_METRICS,
    build_rec_metrics,
    compute_rec_metrics,
    evaluation_metrics,
    update_rec_metrics,
)


def _pairwise_auc(scores, labels) -> float:
    pos = [s for s, y in zip(scores, labels) if y == 1]
    neg = [s for s, y in zip(scores, labels) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def _gather_on_rank(rank: int, world: int):
    collector = PredictionCollector()
    # Rank r holds rows r, r + world, ...; rank 1 also has padding rows to drop.
    scores = torch.arange(rank, 11, world, dtype=torch.float32)
    labels = (scores % 3 == 0).float()
    if rank == 1:
        scores = torch.cat([scores, torch.tensor([99.0, 98.0])])
        labels = torch.cat([labels, torch.tensor([-1.0, -1.0])])
    collector.add(scores, labels)
    logits, gathered = collector.gather(torch.device("cpu"))
    # int64 ids beyond float32's exact range, rank 0 holding none.
    ids = torch.arange(rank * 3, dtype=torch.int64) + 2**40
    return logits.tolist(), gathered.tolist(), gather_rows(ids, torch.device("cpu"))


class RocAucTest(unittest.TestCase):
    def test_matches_pairwise_definition_with_ties(self) -> None:
        g = torch.Generator().manual_seed(0)
        for _ in range(5):
            scores = torch.randint(0, 6, (60,), generator=g).float()  # many ties
            labels = torch.randint(0, 2, (60,), generator=g).float()
            self.assertAlmostEqual(
                roc_auc(scores, labels),
                _pairwise_auc(scores.tolist(), labels.tolist()),
                places=12,
            )

    def test_perfect_inverse_and_single_class(self) -> None:
        labels = torch.tensor([0.0, 0.0, 1.0, 1.0])
        self.assertEqual(roc_auc(torch.tensor([0.1, 0.2, 0.3, 0.4]), labels), 1.0)
        self.assertEqual(roc_auc(torch.tensor([0.4, 0.3, 0.2, 0.1]), labels), 0.0)
        self.assertEqual(roc_auc(torch.ones(4), labels), 0.5)
        self.assertTrue(math.isnan(roc_auc(torch.rand(3), torch.ones(3))))

    def test_matches_torchmetrics_binary_auroc(self) -> None:
        g = torch.Generator().manual_seed(1)
        for ties in (3, 20, 10_000):
            logits = torch.randint(0, ties, (2000,), generator=g).float() / ties - 0.5
            labels = (torch.rand(2000, generator=g) < torch.sigmoid(4 * logits)).float()
            ours = roc_auc(logits, labels)
            theirs = binary_auroc(torch.sigmoid(logits), labels.long()).item()
            self.assertAlmostEqual(
                ours, theirs, places=6, msg=f"{ties} distinct scores"
            )


def _direct_ne_calibration(
    logits: torch.Tensor, labels: torch.Tensor
) -> Dict[str, float]:
    """NE = logloss / entropy of the base CTR; calibration = sum(p) / sum(y)."""
    p = torch.sigmoid(logits.double())
    y = labels.double()
    logloss = -(y * p.log() + (1 - y) * (1 - p).log()).mean().item()
    ctr = y.mean().item()
    entropy = -(ctr * math.log(ctr) + (1 - ctr) * math.log(1 - ctr))
    return {
        "ne": logloss / entropy,
        "calibration": p.sum().item() / y.sum().item(),
        "ctr": ctr,
    }


def _rows(seed: int, n: int) -> Tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, generator=g) * 2
    labels = (torch.rand(n, generator=g) < torch.sigmoid(logits + 0.3)).float()
    return logits, labels


def _rec_metrics_on_rank(rank: int, world: int) -> Dict[str, object]:
    # Rank r scores its own rows; rank 1 also holds padding rows (label -1).
    logits, labels = _rows(rank, 300)
    if rank == 1:
        logits = torch.cat([logits, torch.tensor([9.0, -9.0])])
        labels = torch.cat([labels, torch.tensor([-1.0, -1.0])])
    train = build_rec_metrics(torch.device("cpu"), batch_size=100)
    evaluation = build_rec_metrics(torch.device("cpu"), 1, metrics=EVAL_METRICS)
    collector = PredictionCollector()  # what `evaluate` gathers for the exact AUC
    for part in range(0, logits.numel(), 100):
        chunk = slice(part, part + 100)
        update_rec_metrics(train, logits[chunk], labels[chunk])
        update_rec_metrics(evaluation, logits[chunk], labels[chunk])
        collector.add(logits[chunk], labels[chunk])
    gathered = collector.gather(torch.device("cpu"))
    return {
        "train": compute_rec_metrics(train),
        "eval": evaluation_metrics(evaluation),
        "gathered": [t.tolist() for t in gathered],
    }


class RecMetricsTest(unittest.TestCase):
    """TorchRec's metrics as the trainer builds them, against the formulas."""

    def test_lifetime_and_window(self) -> None:
        logits, labels = _rows(7, 500)
        module = build_rec_metrics(torch.device("cpu"), batch_size=100, window_size=200)
        for part in range(0, 500, 100):
            update_rec_metrics(
                module, logits[part : part + 100], labels[part : part + 100]
            )
        got = compute_rec_metrics(module)
        lifetime = _direct_ne_calibration(logits, labels)
        window = _direct_ne_calibration(logits[300:], labels[300:])  # last 2 batches
        for name in ("ne", "calibration", "ctr"):
            self.assertAlmostEqual(got[f"lifetime_{name}"], lifetime[name], places=6)
            self.assertAlmostEqual(got[f"window_{name}"], window[name], places=6)
        self.assertAlmostEqual(
            got["window_auc"], roc_auc(logits[300:], labels[300:]), places=6
        )

    def test_reduced_across_two_ranks(self) -> None:
        results = run_multiprocess(_rec_metrics_on_rank, 2)
        self.assertEqual(results[0], results[1])  # every rank gets the same values
        parts = [_rows(rank, 300) for rank in range(2)]
        logits = torch.cat([p[0] for p in parts])
        labels = torch.cat([p[1] for p in parts])
        got = results[0]
        # The rows `evaluate` gathers (padding dropped) are the rows TorchRec reduced
        # (padding weighted 0): the same NE and calibration from either.
        self.assertEqual(got["gathered"], [logits.tolist(), labels.tolist()])
        want = _direct_ne_calibration(logits, labels)
        for name in ("ne", "calibration"):
            self.assertAlmostEqual(got["eval"][name], want[name], places=6)
            self.assertAlmostEqual(
                got["train"][f"lifetime_{name}"], want[name], places=6
            )
        self.assertAlmostEqual(got["train"]["lifetime_ctr"], want["ctr"], places=6)
        # The window holds every row: TorchRec's AUC over all ranks' predictions
        # (continuous scores, no ties) is the exact one.
        self.assertAlmostEqual(
            got["train"]["window_auc"], roc_auc(logits, labels), places=5
        )


class LogLossTest(unittest.TestCase):
    def test_matches_formula(self) -> None:
        logits = torch.tensor([-2.0, 0.0, 3.0])
        labels = torch.tensor([0.0, 1.0, 1.0])
        p = torch.sigmoid(logits.double())
        expected = -(labels * p.log() + (1 - labels) * (1 - p).log()).mean().item()
        self.assertAlmostEqual(log_loss(logits, labels), expected, places=12)
        self.assertTrue(math.isnan(log_loss(torch.empty(0), torch.empty(0))))

    def test_binary_metrics(self) -> None:
        m = binary_metrics(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 1.0]))
        self.assertEqual((m["auc"], m["rows"], m["positive_rate"]), (1.0, 2.0, 0.5))


class PredictionCollectorTest(unittest.TestCase):
    def test_drops_padding(self) -> None:
        c = PredictionCollector()
        c.add(torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([1.0, -1.0, 0.0]))
        logits, labels = c.local()
        self.assertEqual(logits.tolist(), [1.0, 3.0])
        self.assertEqual(labels.tolist(), [1.0, 0.0])

    def test_gather_across_two_processes(self) -> None:
        results = run_multiprocess(_gather_on_rank, 2)
        self.assertEqual(results[0][:2], results[1][:2])
        logits, labels, ids = results[0]
        self.assertEqual(sorted(logits), [float(i) for i in range(11)])
        self.assertEqual(labels, [float(x % 3 == 0) for x in logits])
        self.assertEqual(ids.dtype, torch.int64)
        self.assertEqual(ids.tolist(), [2**40 + i for i in range(3)])
        self.assertTrue(torch.equal(ids, results[1][2]))
