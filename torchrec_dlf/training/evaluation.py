"""Metrics of a split, scored through the train pipeline: exact AUC and logloss over
every rank's predictions, TorchRec's NE and calibration reduced across ranks."""

import itertools
from typing import Dict, Iterable, Iterator, Optional

import torch
from torch import nn
from torchrec.datasets.utils import Batch
from torchrec.distributed.train_pipeline import TrainPipelineSparseDist

from torchrec_dlf.training.metrics import PredictionCollector, binary_metrics
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
) -> Dict[str, float]:
    """
    Scores ``batches`` (the first ``limit`` of them) in eval mode through ``pipeline``
    (its sparse data distribution included) and returns `binary_metrics` over the
    predictions of every rank (gathered: the exact AUC is the headline) with NE and
    calibration from TorchRec's `RecMetricModule` over the same rows (its sums reduced
    across ranks; padding rows weigh 0 there as they are dropped here). A collective
    call; the model is left in train mode.
    """
    it: Iterator[Batch] = iter(batches)
    if limit is not None:
        it = itertools.islice(it, limit)
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
    return {**binary_metrics(logits, labels), **evaluation_metrics(rec_metrics)}
