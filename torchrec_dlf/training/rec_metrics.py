"""The metrics production recommenders report (NE, calibration, CTR, windowed AUC),
computed by TorchRec's `RecMetricModule` and reduced across ranks by it."""

import sys
from typing import Dict, Optional, Sequence

import torch
import torch.distributed as dist
from torchrec.metrics.metric_module import RecMetricModule, generate_metric_module
from torchrec.metrics.metrics_config import (
    MetricsConfig,
    RecMetricDef,
    RecMetricEnum,
    RecTaskInfo,
)

# The one task of a CTR model: the model output keys `model_output` writes.
TASK = RecTaskInfo(
    name="click", label_name="label", prediction_name="prediction", weight_name="weight"
)
TRAIN_METRICS = (
    RecMetricEnum.NE,
    RecMetricEnum.CALIBRATION,
    RecMetricEnum.CTR,
    RecMetricEnum.AUC,
)
# The exact AUC over the whole split is the headline of an evaluation
# (`metrics.roc_auc`); TorchRec's AUC is windowed and breaks ties by sort order.
EVAL_METRICS = (RecMetricEnum.NE, RecMetricEnum.CALIBRATION, RecMetricEnum.CTR)
# Window of an evaluation's metrics: larger than any split (only the lifetime values
# are read).
_WHOLE_SPLIT = sys.maxsize // 2


def _rank_and_world(process_group: Optional[dist.ProcessGroup]) -> "tuple[int, int]":
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(process_group), dist.get_world_size(process_group)
    return 0, 1


def build_rec_metrics(
    device: torch.device,
    batch_size: int,
    metrics: Sequence[RecMetricEnum] = TRAIN_METRICS,
    window_size: int = _WHOLE_SPLIT,
    process_group: Optional[dist.ProcessGroup] = None,
) -> RecMetricModule:
    """
    TorchRec's `RecMetricModule` with ``metrics`` of the click task, each lifetime and
    over the last ``window_size`` samples of all ranks, computed on every rank (the
    states are summed, AUC's predictions gathered, over ``process_group``: the default
    group when None). ``batch_size`` is the per-rank batch; TorchRec needs the local
    window (``window_size / world_size``) to hold at least one, so a smaller window is
    raised to it.
    """
    rank, world_size = _rank_and_world(process_group)
    window_size = max(window_size, batch_size * world_size)
    config = MetricsConfig(
        rec_tasks=[TASK],
        rec_metrics={
            m: RecMetricDef(rec_tasks=[TASK], window_size=window_size) for m in metrics
        },
        throughput_metric=None,
        compute_on_all_ranks=True,
    )
    return generate_metric_module(
        RecMetricModule,
        metrics_config=config,
        batch_size=batch_size,
        world_size=world_size,
        my_rank=rank,
        state_metrics_mapping={},
        device=device,
        process_group=process_group,
    )


def model_output(logits: torch.Tensor, labels: torch.Tensor) -> Dict[str, torch.Tensor]:
    """What `RecMetricModule.update` reads for the click task: probabilities, labels
    and weights, padding rows (label < 0) weighted 0."""
    logits = logits.detach().flatten().float()
    labels = labels.detach().flatten().float()
    real = labels >= 0
    return {
        TASK.prediction_name: torch.sigmoid(logits),
        TASK.label_name: labels.clamp(min=0.0),
        TASK.weight_name: real.float(),
    }


def update_rec_metrics(
    module: RecMetricModule, logits: torch.Tensor, labels: torch.Tensor
) -> None:
    """Adds one batch of one rank (`model_output`)."""
    module.update(model_output(logits, labels))


def compute_rec_metrics(module: RecMetricModule) -> Dict[str, float]:
    """
    The metrics over every rank's samples (a collective: every rank calls it at the
    same point), keyed ``<prefix>_<metric>`` as TorchRec names them: ``window_ne``,
    ``lifetime_ne``, ``window_calibration``, ``lifetime_ctr``, ``window_auc`` ...
    """
    out: Dict[str, float] = {}
    for key, value in module.compute().resolve().items():
        # TorchRec's key: "<namespace>-<task>|<prefix><metric>", e.g. "ne-click|window_ne".
        name = key.split("|", 1)[-1]
        out[name] = float(torch.as_tensor(value).double().flatten()[0].item())
    return out


def evaluation_metrics(module: RecMetricModule) -> Dict[str, float]:
    """NE and calibration over a whole split (the lifetime values)."""
    values = compute_rec_metrics(module)
    return {
        "ne": values["lifetime_ne"],
        "calibration": values["lifetime_calibration"],
    }
