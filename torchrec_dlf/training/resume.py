"""Which step checkpoint a job continues from (``--resume``), checked before it loads."""

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import torch
from torch import nn

from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.training.checkpoint import (
    CheckpointManager,
    DamagedCheckpoint,
    LoadedCheckpoint,
    read_checkpoint_state,
)
from torchrec_dlf.training.model_config import ModelConfig
from torchrec_dlf.training.model_description import check_dataset, check_model_config
from torchrec_dlf.user_errors import ConfigError


@dataclass
class ResumePoint:
    """
    Args:
        path (str): the step checkpoint.
        saved (Dict[str, Any]): the trainer state saved with it.
        loaded (LoadedCheckpoint): what loading it into the model and optimizer found.
    """

    path: str
    saved: Dict[str, Any]
    loaded: LoadedCheckpoint


def load_resume_point(
    path: str,
    checkpoints: CheckpointManager,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    model_config: ModelConfig,
    metadata: DatasetMetadata,
    dataset_dir: str,
) -> ResumePoint:
    """Loads the step checkpoint at ``path`` into ``model`` and ``optimizer`` after
    checking that it was written for the same model and dataset."""
    saved = read_checkpoint_state(path)
    check_model_config(saved, model_config, path)
    check_dataset(saved, metadata, path, dataset_dir)
    loaded = checkpoints.load(path, model, optimizer)
    return ResumePoint(path, saved, loaded)


def find_resume_point(
    resume: str,
    checkpoints: Optional[CheckpointManager],
    load: Callable[[str], ResumePoint],
    warn: Callable[[str], None],
) -> Optional[ResumePoint]:
    """
    ``resume`` as ``--resume`` says: ``never``; a checkpoint's path; or ``auto``, the
    latest intact step checkpoint in ``checkpoints`` (a damaged one is reported with
    ``warn`` and the previous one tried), None when there is none yet. ``load`` loads
    one (`load_resume_point`).
    """
    if checkpoints is None or resume == "never":
        if resume not in ("auto", "never"):
            raise ConfigError("--resume <path> needs --checkpoint_dir")
        return None
    if resume != "auto":
        return load(resume)
    steps = checkpoints.steps()
    for step in reversed(steps):
        try:
            return load(checkpoints.step_path(step))
        except DamagedCheckpoint as e:
            warn(f"warning: {e}; trying the previous checkpoint")
    if steps:
        raise DamagedCheckpoint(
            f"--checkpoint_dir {checkpoints.directory}: no intact checkpoint "
            f"among steps {steps}; remove them or pass --resume never"
        )
    return None
