"""Learning-rate schedules: linear warmup, then a decay by step count or on plateau,
applied to every optimizer the train pipeline steps (the fused embedding one too)."""

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import torch

from torchrec_dlf.training.train_config import TrainConfig

# ``plateau`` (the default) is the trainer's decay on non-improving validations;
# ``constant`` never changes the learning rate after warmup; the others decay by step.
LR_SCHEDULES = ("plateau", "constant", "step", "linear", "poly", "cosine")
STEP_DECAYS = ("step", "linear", "poly", "cosine")
# `EarlyStopping`'s floor of a learning rate decayed on plateau.
PLATEAU_MIN_LR = 1e-6


@dataclass(frozen=True)
class LRSchedule:
    """
    The multiplier of every base learning rate at each training step (0-based: the
    multiplier of step ``s`` is the one the ``s + 1``-th update uses).

    * warmup: ``(s + 1) / warmup_steps`` for ``s < warmup_steps`` (MLPerf DLRM's
      linear warmup: the first update at ``base / warmup_steps``, the
      ``warmup_steps``-th at ``base``);
    * then, for ``s >= decay_start``, with ``t = min((s - decay_start) /
      decay_steps, 1)`` and ``e = end_factor``: ``step``: ``decay_factor **
      floor((s - decay_start) / decay_steps)``; ``linear``: ``e + (1 - e) (1 - t)``;
      ``poly``: ``e + (1 - e) (1 - t) ** power`` (MLPerf DLRM's decay is poly with
      power 2 and e = 0); ``cosine``: ``e + (1 - e) (1 + cos(pi t)) / 2``;
    * ``plateau`` and ``constant`` stay at 1 after warmup (``plateau``'s decay comes
      from the validations, see `LRScheduler.on_plateau`).

    Args:
        kind (str): one of `LR_SCHEDULES`.
        warmup_steps (int): steps of linear warmup (0: none).
        decay_start (int): first step of a step decay.
        decay_steps (int): length of a linear/poly/cosine decay; period of ``step``.
        decay_factor (float): ``step``'s factor per period, ``plateau``'s factor per
            non-improving validation.
        end_factor (float): where linear/poly/cosine end, as a fraction of the base.
        power (float): ``poly``'s exponent.

    Example::

        schedule = LRSchedule("cosine", warmup_steps=100, decay_start=100,
                              decay_steps=900)
        schedule.multiplier(0), schedule.multiplier(99), schedule.multiplier(1000)
        # (0.01, 1.0, 0.0)
    """

    kind: str = "plateau"
    warmup_steps: int = 0
    decay_start: int = 0
    decay_steps: int = 1
    decay_factor: float = 0.1
    end_factor: float = 0.0
    power: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in LR_SCHEDULES:
            raise ValueError(
                f"lr schedule must be one of {LR_SCHEDULES}, got {self.kind!r}"
            )
        if self.warmup_steps < 0 or self.decay_start < 0 or self.decay_steps < 1:
            raise ValueError(
                "warmup_steps and decay_start must be >= 0 and decay_steps >= 1, got "
                f"{self.warmup_steps}, {self.decay_start}, {self.decay_steps}"
            )

    @property
    def decays_on_plateau(self) -> bool:
        return self.kind == "plateau"

    def multiplier(self, step: int) -> float:
        """The factor of the base learning rates at training step ``step``."""
        scale = 1.0
        if step < self.warmup_steps:
            scale = (step + 1) / self.warmup_steps
        if self.kind not in STEP_DECAYS or step < self.decay_start:
            return scale
        done = step - self.decay_start
        if self.kind == "step":
            return scale * self.decay_factor ** (done // self.decay_steps)
        t = min(done / self.decay_steps, 1.0)
        end = self.end_factor
        if self.kind == "linear":
            return scale * (end + (1.0 - end) * (1.0 - t))
        if self.kind == "poly":
            return scale * (end + (1.0 - end) * (1.0 - t) ** self.power)
        return scale * (end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * t)))


class LRScheduler:
    """
    Sets every param group of ``optimizer`` to its base learning rate times
    ``schedule.multiplier(step)`` before each training step (`apply`). The base rates
    are the groups' rates when the scheduler is made (each optimizer keeps its own:
    dense, fused embedding tables, replicated tables, whole-table decay), lowered by
    ``decay_factor`` (floored at ``min_lr``) on each non-improving validation under
    the ``plateau`` schedule (`on_plateau`).

    The fused (in-backward) embedding optimizer follows too: TorchRec's fused
    optimizer hands its param group's ``lr`` to FBGEMM's kernel
    (``set_learning_rate``) in ``zero_grad``, which the train pipeline calls at the
    start of each step, before the backward pass that updates the tables.

    TorchRec's ``torchrec.optim.warmup.WarmupOptimizer`` is not used: it sets one
    learning rate on every param group (this job's dense and embedding rates differ)
    and has no decay on plateau.

    The state (`state_dict`) is the base rates and the last step applied; with the
    trainer's global step saved in every checkpoint, a resumed run continues the
    schedule exactly.

    Args:
        optimizer (torch.optim.Optimizer): the optimizer the pipeline steps.
        schedule (LRSchedule): the schedule.
        min_lr (float): floor of a plateau decay.

    Example::

        scheduler = LRScheduler(optimizer, LRSchedule("linear", 10, 10, 90))
        for step, batch in enumerate(batches):
            scheduler.apply(step)
            pipeline.progress(...)
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: LRSchedule,
        min_lr: float = PLATEAU_MIN_LR,
    ) -> None:
        self.optimizer = optimizer
        self.schedule = schedule
        self.min_lr = min_lr
        self.base_lrs: List[float] = [g["lr"] for g in optimizer.param_groups]
        self.step: Optional[int] = None

    @property
    def learning_rates(self) -> List[float]:
        """The rate of each param group now."""
        return [g["lr"] for g in self.optimizer.param_groups]

    def apply(self, step: int) -> None:
        """Sets the learning rates of training step ``step`` (0-based)."""
        scale = self.schedule.multiplier(step)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * scale
        self.step = step

    def on_plateau(self) -> bool:
        """A validation did not improve: under ``plateau``, lowers every base rate by
        ``decay_factor`` (to at least ``min_lr``) and applies it now. Returns whether
        the rates changed."""
        if not self.schedule.decays_on_plateau or self.schedule.decay_factor == 1.0:
            return False
        factor = self.schedule.decay_factor
        self.base_lrs = [max(b * factor, self.min_lr) for b in self.base_lrs]
        self.apply(self.step if self.step is not None else 0)
        return True

    def state_dict(self) -> Dict[str, Any]:
        return {"step": self.step, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        bases = [float(b) for b in state["base_lrs"]]
        if len(bases) != len(self.base_lrs):
            raise ValueError(
                f"the checkpoint's schedule has {len(bases)} learning rates, the "
                f"optimizer {len(self.base_lrs)} param groups"
            )
        self.base_lrs = bases
        step = state.get("step")
        if step is not None:
            self.apply(int(step))
        else:
            self.step = None
            for group, base in zip(self.optimizer.param_groups, self.base_lrs):
                group["lr"] = base


def schedule_from_config(config: TrainConfig, total_steps: int) -> LRSchedule:
    """The schedule ``config``'s ``lr_*`` flags describe for a run of
    ``total_steps`` steps (a decay without ``lr_decay_steps`` lasts from
    ``lr_decay_start`` to the end of training)."""
    decay_steps = config.lr_decay_steps
    if decay_steps is None:
        decay_steps = max(total_steps - config.lr_decay_start, 1)
    return LRSchedule(
        kind=config.lr_schedule,
        warmup_steps=config.lr_warmup_steps,
        decay_start=config.lr_decay_start,
        decay_steps=decay_steps,
        decay_factor=config.lr_decay_factor,
        end_factor=config.lr_decay_end_factor,
        power=config.lr_decay_power,
    )
