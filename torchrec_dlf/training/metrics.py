"""Exact AUC and logloss over a whole evaluation set, gathered across ranks."""

from typing import Dict, List, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """
    Area under the ROC curve (Mann-Whitney statistic, tied scores get their average rank).

    Args:
        scores (torch.Tensor): N scores (logits or probabilities).
        labels (torch.Tensor): N labels in {0, 1}.

    Returns:
        float: AUC, or NaN when only one class is present.
    """
    scores = scores.double().flatten()
    labels = labels.double().flatten()
    n = scores.numel()
    positives = labels.sum().item()
    negatives = n - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    sorted_scores, order = torch.sort(scores)
    _, counts = torch.unique_consecutive(sorted_scores, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    average_rank = ends - (counts.double() - 1) / 2  # ranks are 1-based
    ranks = torch.repeat_interleave(average_rank, counts)
    rank_sum = (ranks * labels[order]).sum().item()
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def log_loss(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean binary cross-entropy of ``sigmoid(logits)`` against ``labels``."""
    if logits.numel() == 0:
        return float("nan")
    return F.binary_cross_entropy_with_logits(
        logits.double().flatten(), labels.double().flatten()
    ).item()


def binary_metrics(logits: torch.Tensor, labels: torch.Tensor) -> Dict[str, float]:
    return {
        "auc": roc_auc(logits, labels),
        "logloss": log_loss(logits, labels),
        "rows": float(labels.numel()),
        "positive_rate": float(labels.double().mean().item())
        if labels.numel()
        else 0.0,
    }


class PredictionCollector:
    """
    Collects (logit, label) pairs of one rank during evaluation, dropping padding rows
    (label < 0), and gathers all ranks' pairs for exact metrics.
    """

    def __init__(self) -> None:
        self._logits: List[torch.Tensor] = []
        self._labels: List[torch.Tensor] = []

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        logits = logits.detach().flatten().float()
        labels = labels.detach().flatten().float()
        keep = labels >= 0
        self._logits.append(logits[keep].cpu())
        self._labels.append(labels[keep].cpu())

    def local(self) -> Tuple[torch.Tensor, torch.Tensor]:
        if not self._logits:
            return torch.empty(0), torch.empty(0)
        return torch.cat(self._logits), torch.cat(self._labels)

    def gather(self, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
        """All ranks' pairs (on every rank), in rank order."""
        logits, labels = self.local()
        return gather_rows(logits, device), gather_rows(labels, device)


def gather_rows(rows: torch.Tensor, device: torch.device) -> torch.Tensor:
    """
    Every rank's 1-d ``rows`` (any dtype, any length per rank) joined in rank order, on
    every rank (CPU): the tensor itself without a process group. A collective.
    """
    rows = rows.flatten()
    if (
        not (dist.is_available() and dist.is_initialized())
        or dist.get_world_size() == 1
    ):
        return rows.cpu()
    world = dist.get_world_size()
    size = torch.tensor([rows.numel()], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    counts = [int(s.item()) for s in sizes]
    padded = torch.zeros(max(counts), dtype=rows.dtype)
    padded[: rows.numel()] = rows.cpu()
    padded = padded.to(device)
    parts = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:c].cpu() for p, c in zip(parts, counts)])
