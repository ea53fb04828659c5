"""What the trainer logs every ``log_every_n_steps`` steps: the interval since the
last log point."""

from dataclasses import dataclass, field
from typing import Dict

# Windowed train metrics shown on the progress bar, by their TorchRec names.
_POSTFIX = {"window_ne": "ne", "window_auc": "auc"}


@dataclass
class LogInterval:
    """
    Training steps since the last log point: their mean loss (this rank's) and
    samples per second (all ranks, time inside the train pipeline only), and the
    progress bar's windowed metrics as last computed.
    """

    loss_sum: float = 0.0
    steps: int = 0
    samples: int = 0
    seconds: float = 0.0
    postfix: Dict[str, str] = field(default_factory=dict)

    def add(self, loss: float, samples: int, seconds: float) -> None:
        self.loss_sum += loss
        self.steps += 1
        self.samples += samples
        self.seconds += seconds

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / self.steps if self.steps else float("nan")

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0

    def show(self, metrics: Dict[str, float]) -> None:
        """Keeps the windowed NE and AUC of ``metrics`` for the progress bar."""
        self.postfix = {
            short: f"{metrics[name]:.4f}"
            for name, short in _POSTFIX.items()
            if name in metrics
        }

    def reset(self) -> None:
        self.loss_sum, self.steps, self.samples, self.seconds = 0.0, 0, 0, 0.0
