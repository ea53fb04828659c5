"""Group AUC (GAUC): the AUC within each group (a user, a session) averaged over the
groups, each weighted by its rows, as DIN and FuxiCTR's gAUC report it."""

from typing import Dict

import torch


def group_auc(
    scores: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor
) -> Dict[str, float]:
    """
    Exact per-group AUC (Mann-Whitney, tied scores get their average rank within the
    group), vectorised: one sort by (group, score), no loop over groups.

    Args:
        scores (torch.Tensor): N scores (logits or probabilities).
        labels (torch.Tensor): N labels in {0, 1}.
        groups (torch.Tensor): N integer group ids (any values).

    Returns:
        Dict[str, float]: ``gauc`` (the mean over the groups holding both classes,
        weighted by their rows; NaN when there is none), ``gauc_groups`` (those groups)
        and ``gauc_rows`` (their rows). Groups of one class have no AUC and are left
        out, as in FuxiCTR.
    """
    scores = scores.double().flatten()
    labels = labels.double().flatten()
    groups = groups.long().flatten()
    if not (scores.numel() == labels.numel() == groups.numel()):
        raise ValueError(
            f"scores, labels and groups differ in length: {scores.numel()}, "
            f"{labels.numel()}, {groups.numel()}"
        )
    n = scores.numel()
    empty = {"gauc": float("nan"), "gauc_groups": 0.0, "gauc_rows": 0.0}
    if n == 0:
        return empty
    # Stable sorts: by score, then by group, so each group's rows are ascending.
    order = torch.argsort(scores, stable=True)
    order = order[torch.argsort(groups[order], stable=True)]
    g, s, y = groups[order], scores[order], labels[order]

    _, group_rows = torch.unique_consecutive(g, return_counts=True)
    group_of_row = torch.repeat_interleave(torch.arange(group_rows.numel()), group_rows)
    group_start = torch.cumsum(group_rows, 0) - group_rows
    # Runs of tied scores inside a group share their average rank.
    new_run = torch.ones(n, dtype=torch.bool)
    new_run[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
    run_rows = torch.bincount(torch.cumsum(new_run.long(), 0) - 1)
    run_end = torch.cumsum(run_rows, 0).double()  # 1-based position of a run's last row
    average_rank = torch.repeat_interleave(
        run_end - (run_rows.double() - 1) / 2, run_rows
    )
    rank_in_group = average_rank - group_start[group_of_row].double()

    zeros = torch.zeros(group_rows.numel(), dtype=torch.float64)
    positives = zeros.index_add(0, group_of_row, y)
    rank_sum = zeros.index_add(0, group_of_row, rank_in_group * y)
    negatives = group_rows.double() - positives
    both = (positives > 0) & (negatives > 0)
    if not bool(both.any()):
        return empty
    pos, neg = positives[both], negatives[both]
    auc = (rank_sum[both] - pos * (pos + 1) / 2) / (pos * neg)
    rows = group_rows[both].double()
    return {
        "gauc": float((auc * rows).sum() / rows.sum()),
        "gauc_groups": float(both.sum()),
        "gauc_rows": float(rows.sum()),
    }
