import math
import unittest

import torch

from tests.multiprocess import run_multiprocess
from torchrec_dlf.training.metrics import (
    PredictionCollector,
    binary_metrics,
    log_loss,
    roc_auc,
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
    return logits.tolist(), gathered.tolist()


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
        self.assertEqual(results[0], results[1])
        logits, labels = results[0]
        self.assertEqual(sorted(logits), [float(i) for i in range(11)])
        self.assertEqual(labels, [float(x % 3 == 0) for x in logits])
