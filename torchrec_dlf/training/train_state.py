"""Where a training run stands: what every checkpoint saves and a resume restores."""

from dataclasses import dataclass, field, fields
from typing import Any, Dict, List


@dataclass
class TrainerState:
    """Where training stands; saved in every checkpoint."""

    epoch: int = 0
    batch_in_epoch: int = 0
    global_step: int = 0
    train_samples: int = 0
    train_seconds: float = 0.0
    stopped: bool = False
    # Training loss accumulated since the last validation (reported with it).
    loss_sum: float = 0.0
    loss_count: int = 0
    evaluations: List[Dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, raw: Dict[str, Any]) -> "TrainerState":
        """The state from a checkpoint's trainer state (other keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})


class TrainingInterrupted(Exception):
    """Raised by ``stop_after_steps``: the job stops as if preempted, after a checkpoint."""

    def __init__(self, step: int) -> None:
        super().__init__(f"stopped after step {step}")
        self.step = step
