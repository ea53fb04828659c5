"""Early stopping on a validation metric with learning-rate decay on plateau."""

from dataclasses import dataclass, field
from typing import Any, Dict, List

import torch


@dataclass
class EarlyStopping:
    """
    Tracks a validation metric (higher is better). After each evaluation, `update`
    returns whether it improved by more than ``min_delta``; each evaluation that does
    not improve multiplies every learning rate by ``lr_decay_factor`` (floored at
    ``min_lr``) and counts towards ``patience``, after which `should_stop` is True.

    Example::

        stopper = EarlyStopping(patience=2)
        if stopper.update(valid_auc, optimizer):
            save_best()
        if stopper.should_stop:
            break
    """

    patience: int = 2
    lr_decay_factor: float = 0.1
    min_lr: float = 1e-6
    min_delta: float = 1e-6
    best: float = float("-inf")
    best_step: int = -1
    bad_evaluations: int = 0
    history: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_evaluations >= self.patience

    def update(
        self, value: float, optimizer: torch.optim.Optimizer, step: int = 0
    ) -> bool:
        improved = value > self.best + self.min_delta
        if improved:
            self.best = value
            self.best_step = step
            self.bad_evaluations = 0
        else:
            self.bad_evaluations += 1
            if self.lr_decay_factor != 1.0:
                for group in optimizer.param_groups:
                    group["lr"] = max(group["lr"] * self.lr_decay_factor, self.min_lr)
        self.history.append(
            {
                "step": step,
                "value": value,
                "improved": improved,
                "lr": [g["lr"] for g in optimizer.param_groups],
            }
        )
        return improved

    def state_dict(self) -> Dict[str, Any]:
        return {
            "best": self.best,
            "best_step": self.best_step,
            "bad_evaluations": self.bad_evaluations,
            "history": list(self.history),
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.best = state["best"]
        self.best_step = state["best_step"]
        self.bad_evaluations = state["bad_evaluations"]
        self.history = list(state["history"])
