"""Metrics of a split, scored through the train pipeline: exact AUC and logloss over
every rank's predictions (and the group AUC over a field's values), TorchRec's NE and
calibration reduced across ranks."""

import itertools
from typing import Dict, Iterable, Iterator, List, Optional

import torch
from torch import nn
from torchrec.datasets.utils import Batch
from torchrec.distributed.train_pipeline import TrainPipelineSparseDist

from torchrec_dlf.training.group_auc import group_auc
from torchrec_dlf.training.metrics import (
    PredictionCollector,
    binary_metrics,
    gather_rows,
)
from torchrec_dlf.training.rec_metrics import (
    EVAL_METRICS,
    build_rec_metrics,
    evaluation_metrics,
    update_rec_metrics,
)


def evaluate(
    pipeline: TrainPipelineSparseDist,
    model: nn.Module,
    batches: Iterable[Batch],
    device: torch.device,
    limit: Optional[int] = None,
    group_field: Optional[str] = None,
) -> Dict[str, float]:
    """
    Scores ``batches`` (the first ``limit`` of them) in eval mode through ``pipeline``
    (its sparse data distribution included) and returns `binary_metrics` over the
    predictions of every rank (gathered: the exact AUC is the headline) with NE and
    calibration from TorchRec's `RecMetricModule` over the same rows (its sums reduced
    across ranks; padding rows weigh 0 there as they are dropped here), and with
    ``group_field`` (a one-hot categorical field) `group_auc` over its ids. A
    collective call; the model is left in train mode.
    """
    it: Iterator[Batch] = iter(batches)
    if limit is not None:
        it = itertools.islice(it, limit)
    groups: List[torch.Tensor] = []
    if group_field is not None:
        it = _recording_groups(it, group_field, groups)
    model.eval()
    collector = PredictionCollector()
    rec_metrics = build_rec_metrics(device, batch_size=1, metrics=EVAL_METRICS)
    with torch.no_grad():
        while True:
            try:
                _loss, logits, labels = pipeline.progress(it)
            except StopIteration:
                break
            collector.add(logits, labels)
            update_rec_metrics(rec_metrics, logits, labels)
    model.train()
    logits, labels = collector.gather(device)
    out = {**binary_metrics(logits, labels), **evaluation_metrics(rec_metrics)}
    if group_field is not None:
        local = torch.cat(groups) if groups else torch.empty(0, dtype=torch.int64)
        out.update(group_auc(logits, labels, gather_rows(local, device)))
    return out


def _recording_groups(
    batches: Iterator[Batch], field: str, out: List[torch.Tensor]
) -> Iterator[Batch]:
    """
    Yields ``batches`` unchanged, appending to ``out`` the ``field`` id of each real
    row (label >= 0) as the pipeline takes the batch: the pipeline keeps their order,
    so ``out`` lines up with the predictions `PredictionCollector` keeps.
    """
    for batch in batches:
        ids = batch.sparse_features[field]
        lengths = ids.lengths()
        if bool((lengths > 1).any()):
            raise ValueError(f"group field {field!r} has rows with several ids")
        # A row without an id (padding) gets -1; the label drops it below anyway.
        row_ids = torch.full((lengths.numel(),), -1, dtype=torch.int64)
        row_ids[lengths.cpu() == 1] = ids.values().cpu().long()
        out.append(row_ids[batch.labels.detach().flatten().cpu() >= 0])
        yield batch
