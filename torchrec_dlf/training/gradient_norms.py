"""Per-stream gradient norms: the paper's gradient-imbalance claim, measured."""

from collections import defaultdict
from typing import Any, Dict, List

import torch
from torch import nn
from torchrec.optim.keyed import KeyedOptimizer, OptimizerWrapper

from torchrec_dlf.models.interaction_arch import DLFInteractionArch
from torchrec_dlf.training.train_module import DLRMTrainModule

EMBEDDINGS = "embeddings"


def dlf_stream_parameters(model: nn.Module) -> Dict[str, List[nn.Parameter]]:
    """The parameters of each DLF stream (`DLFInteractionArch.stream_parameters`) of
    every DLF interaction arch in ``model`` (sharded or not), in module order; empty
    for a model without one."""
    groups: Dict[str, List[nn.Parameter]] = {}
    for module in model.modules():
        if isinstance(module, DLFInteractionArch):
            for part, params in module.stream_parameters().items():
                groups.setdefault(part, []).extend(params)
    return groups


def _norm(params: List[nn.Parameter]) -> float:
    """The L2 norm of the gradients ``params`` hold (0.0 when none has one)."""
    squares = [
        p.grad.detach().float().pow(2).sum() for p in params if p.grad is not None
    ]
    return torch.stack(squares).sum().sqrt().item() if squares else 0.0


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
        model (nn.Module): the (sharded) model, searched for `DLFInteractionArch`s.
        train_module (DLRMTrainModule): the train module inside it; its embedding
            gradient tracking is switched on.
        every_n_steps (int): record every N steps.
    """

    def __init__(
        self,
        optimizer: KeyedOptimizer,
        model: nn.Module,
        train_module: DLRMTrainModule,
        every_n_steps: int = 1,
    ) -> None:
        super().__init__(optimizer)
        self._every = max(1, every_n_steps)
        self._train_module = train_module
        train_module.track_embedding_gradient = True
        self._groups = dlf_stream_parameters(model)
        self._step = 0
        self.history: Dict[str, List[float]] = defaultdict(list)

    def step(self, closure: Any = None) -> None:
        self._step += 1
        if self._step % self._every == 0:
            self.history["step"].append(float(self._step))
            for group, params in self._groups.items():
                self.history[group].append(_norm(params))
            self.history[EMBEDDINGS].append(self._train_module.last_embedding_grad_norm)
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
