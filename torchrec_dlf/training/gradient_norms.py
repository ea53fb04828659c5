"""Per-stream gradient norms: the paper's gradient-imbalance claim, measured."""

from collections import defaultdict
from typing import Any, Dict, List, Optional

import torch
from torch import nn
from torchrec.optim.keyed import KeyedOptimizer, OptimizerWrapper

# Parameter-name fragments of each DLF stream (DLFLayer's attribute names).
STREAM_GROUPS = {
    "alpha": ".low_order.",
    "beta": ".high_order.",
    "gamma": ".implicit.",
    "fusion": ".fusion.",
    "residual": ".residual.",
}
EMBEDDINGS = "embeddings"


def stream_of(name: str) -> Optional[str]:
    for group, fragment in STREAM_GROUPS.items():
        if fragment in name:
            return group
    return None


class GradientNormTracker(OptimizerWrapper):
    """
    Wraps the train pipeline's optimizer: every ``every_n_steps`` steps, before the
    update (and before gradient clipping), records the L2 norm of the gradient reaching
    each DLF stream's parameters (alpha, beta, gamma, fusion, residual; summed over
    layers) and the gradient reaching the looked-up embeddings (reported by
    `DLRMTrainModule`, whose tables are updated inside the backward pass and never hold a
    gradient). Dense gradients are already all-reduced, so every rank records the same.

    Args:
        optimizer (KeyedOptimizer): the optimizer the pipeline steps.
        model (nn.Module): the (sharded) model, to find the parameters by name.
        train_module (nn.Module): the `DLRMTrainModule` inside it.
        every_n_steps (int): record every N steps.
    """

    def __init__(
        self,
        optimizer: KeyedOptimizer,
        model: nn.Module,
        train_module: nn.Module,
        every_n_steps: int = 1,
    ) -> None:
        super().__init__(optimizer)
        self._every = max(1, every_n_steps)
        self._train_module = train_module
        self._groups: Dict[str, List[torch.Tensor]] = defaultdict(list)
        for name, param in model.named_parameters():
            group = stream_of(name)
            if group is not None and param.requires_grad:
                self._groups[group].append(param)
        self._step = 0
        self.history: Dict[str, List[float]] = defaultdict(list)

    def step(self, closure: Any = None) -> None:
        self._step += 1
        if self._step % self._every == 0:
            self.history["step"].append(float(self._step))
            for group, params in self._groups.items():
                squares = [
                    p.grad.detach().float().pow(2).sum()
                    for p in params
                    if p.grad is not None
                ]
                norm = torch.stack(squares).sum().sqrt().item() if squares else 0.0
                self.history[group].append(norm)
            self.history[EMBEDDINGS].append(
                float(getattr(self._train_module, "last_embedding_grad_norm", 0.0))
            )
        super().step(closure)

    def summary(self) -> Dict[str, Any]:
        """Mean norm per group and the ratios between streams over the recorded steps."""
        means = {
            k: sum(v) / len(v) for k, v in self.history.items() if k != "step" and v
        }
        out: Dict[str, Any] = {
            "mean": means,
            "recorded_steps": len(self.history.get("step", [])),
        }
        beta = means.get("beta") or 0.0
        if beta > 0:
            out["ratio_to_beta"] = {k: v / beta for k, v in means.items()}
        return out
