"""Exact AUC and logloss of a split, scored through the train pipeline."""

import itertools
from typing import Dict, Iterable, Iterator, Optional

import torch
from torch import nn
from torchrec.datasets.utils import Batch
from torchrec.distributed.train_pipeline import TrainPipelineSparseDist

from torchrec_dlf.training.metrics import PredictionCollector, binary_metrics


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
    predictions of every rank (a collective call). The model is left in train mode.
    """
    it: Iterator[Batch] = iter(batches)
    if limit is not None:
        it = itertools.islice(it, limit)
    model.eval()
    collector = PredictionCollector()
    with torch.no_grad():
        while True:
            try:
                _loss, logits, labels = pipeline.progress(it)
            except StopIteration:
                break
            collector.add(logits, labels)
    model.train()
    logits, labels = collector.gather(device)
    return binary_metrics(logits, labels)
