"""Driving a sharded model through the train pipeline in tests."""

from typing import List

import torch
from torch import nn
from torchrec.distributed.train_pipeline import TrainPipelineSparseDist


def run_pipeline(
    pipeline: TrainPipelineSparseDist, model: nn.Module, batches: List
) -> int:
    """Trains on ``batches`` until exhausted, then gives the model its forward back
    (the pipeline rewrites it) so tests can call it directly. Returns the steps run."""
    model.train()
    it = iter(batches)
    steps = 0
    while True:
        try:
            pipeline.progress(it)
        except StopIteration:
            break
        steps += 1
    pipeline.detach()
    return steps


def eval_logits(model: nn.Module, batch) -> torch.Tensor:  # pyre-ignore[2]
    model.eval()
    with torch.no_grad():
        return model(batch)[1][1].clone()
