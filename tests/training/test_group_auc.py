"""group_auc: the per-group exact AUC, weighted by rows, against torchmetrics' AUROC
group by group."""

import unittest

import torch
from torchmetrics.functional.classification import binary_auroc

from torchrec_dlf.training.group_auc import group_auc
from torchrec_dlf.training.metrics import roc_auc


def _reference(scores: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor):
    """A loop over groups with torchmetrics' AUROC (ties handled by its ROC curve)."""
    total, rows, counted = 0.0, 0, 0
    for g in torch.unique(groups):
        mask = groups == g
        y = labels[mask]
        if 0 < y.sum() < y.numel():
            total += binary_auroc(scores[mask], y.long()).item() * y.numel()
            rows += y.numel()
            counted += 1
    return total / rows, counted, rows


class GroupAucTest(unittest.TestCase):
    def test_matches_torchmetrics_per_group_with_ties(self) -> None:
        gen = torch.Generator().manual_seed(0)
        n = 3000
        groups = torch.randint(0, 150, (n,), generator=gen) * 7 - 300  # any ids
        # Rounded scores: many ties inside groups.
        scores = torch.round(torch.rand(n, generator=gen) * 20) / 20
        labels = (torch.rand(n, generator=gen) < 0.3 + 0.4 * scores).double()
        out = group_auc(scores, labels, groups)
        gauc, counted, rows = _reference(scores, labels, groups)
        self.assertAlmostEqual(out["gauc"], gauc, places=6)
        self.assertEqual(out["gauc_groups"], counted)
        self.assertEqual(out["gauc_rows"], rows)

    def test_order_does_not_matter(self) -> None:
        gen = torch.Generator().manual_seed(1)
        scores = torch.randn(500, generator=gen)
        labels = (torch.rand(500, generator=gen) < 0.4).double()
        groups = torch.randint(0, 20, (500,), generator=gen)
        perm = torch.randperm(500, generator=gen)
        a = group_auc(scores, labels, groups)
        b = group_auc(scores[perm], labels[perm], groups[perm])
        self.assertAlmostEqual(a["gauc"], b["gauc"], places=12)

    def test_one_group_is_the_auc(self) -> None:
        gen = torch.Generator().manual_seed(2)
        scores = torch.randn(400, generator=gen)
        labels = (torch.rand(400, generator=gen) < 0.5).double()
        out = group_auc(scores, labels, torch.full((400,), 5))
        self.assertAlmostEqual(out["gauc"], roc_auc(scores, labels), places=12)
        self.assertEqual(out["gauc_groups"], 1.0)

    def test_single_class_groups_are_left_out(self) -> None:
        scores = torch.tensor([0.1, 0.9, 0.2, 0.3, 0.8, 0.7])
        labels = torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0, 1.0])
        # Group 0: perfect; group 1: all positive (no AUC); group 2: one pair, inverted.
        groups = torch.tensor([0, 0, 1, 1, 2, 2])
        out = group_auc(scores, labels, groups)
        self.assertAlmostEqual(out["gauc"], (1.0 * 2 + 0.0 * 2) / 4)
        self.assertEqual((out["gauc_groups"], out["gauc_rows"]), (2.0, 4.0))

    def test_no_group_with_both_classes(self) -> None:
        out = group_auc(torch.rand(4), torch.ones(4), torch.arange(4))
        self.assertNotEqual(out["gauc"], out["gauc"])  # NaN
        self.assertEqual(out["gauc_groups"], 0.0)
        empty = group_auc(torch.empty(0), torch.empty(0), torch.empty(0))
        self.assertEqual(empty["gauc_rows"], 0.0)

    def test_lengths_must_agree(self) -> None:
        with self.assertRaisesRegex(ValueError, "differ in length"):
            group_auc(torch.rand(3), torch.ones(3), torch.arange(2))


if __name__ == "__main__":
    unittest.main()
