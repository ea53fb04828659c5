"""The weights of the best validation so far, to score the test set with."""

from typing import Any, Dict, List, Optional

import torch
from torch import nn

from torchrec_dlf.training.checkpoint import CheckpointManager
from torchrec_dlf.training.model_state import restore_state, snapshot_state


class BestWeights:
    """
    Keeps the model's weights at its best validation: in the checkpoint directory's
    ``best`` checkpoint when the job has one (it survives a preemption), otherwise as
    an in-memory copy of this rank's shards.

    Args:
        model (nn.Module): the (sharded) model.
        checkpoints (Optional[CheckpointManager]): the job's checkpoints, if any.
    """

    def __init__(
        self, model: nn.Module, checkpoints: Optional[CheckpointManager]
    ) -> None:
        self._model = model
        self._checkpoints = checkpoints
        self._snapshot: Optional[Dict[str, List[torch.Tensor]]] = None

    def keep(self, info: Dict[str, Any]) -> None:
        """Keeps the current weights (``info`` goes with the ``best`` checkpoint)."""
        if self._checkpoints is not None:
            self._checkpoints.save_best(self._model, info)
        else:
            self._snapshot = snapshot_state(self._model)

    def restore(self) -> None:
        """Puts the kept weights back (nothing when none were kept in this job or its
        checkpoint directory; call it only when there was a best validation)."""
        if self._snapshot is not None:
            restore_state(self._model, self._snapshot)
        elif self._checkpoints is not None and self._checkpoints.has_best():
            self._checkpoints.load_best(self._model)
