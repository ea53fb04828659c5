"""Rebuilding a trained model from a checkpoint written by the trainer."""

import json
import os
from dataclasses import fields
from typing import Any, Dict

import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.api import CheckpointException

from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.training.checkpoint import STATE_FILE
from torchrec_dlf.training.model_description import check_dataset
from torchrec_dlf.training.model_factory import ModelConfig
from torchrec_dlf.user_errors import UserError

_DESCRIPTION_FILES = (STATE_FILE, "best.json")


class NotACheckpoint(UserError, FileNotFoundError):
    """A path given as a checkpoint that holds none (or a damaged one)."""


def read_description(checkpoint: str) -> Dict[str, Any]:
    """The model description saved with a step checkpoint or with ``best/``."""
    for name in _DESCRIPTION_FILES:
        path = os.path.join(checkpoint, name)
        if os.path.isfile(path):
            try:
                with open(path) as f:
                    description = json.load(f)
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                raise NotACheckpoint(
                    f"{path}: damaged checkpoint description ({e})"
                ) from e
            if not isinstance(description, dict) or "model_config" not in description:
                raise NotACheckpoint(
                    f"{path}: written by an older trainer, no model description"
                )
            return description
    raise NotACheckpoint(
        f"{checkpoint}: not a checkpoint (no {' or '.join(_DESCRIPTION_FILES)})"
    )


def model_config(description: Dict[str, Any]) -> ModelConfig:
    saved = description["model_config"]
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(saved) - known)
    if unknown:
        raise NotACheckpoint(
            f"the checkpoint's model has settings this torchrec_dlf does not know: "
            f"{unknown}"
        )
    return ModelConfig(**saved)


def check_vocabulary(
    description: Dict[str, Any],
    metadata: DatasetMetadata,
    checkpoint: str = "<checkpoint>",
    dataset_dir: str = "<dataset>",
) -> None:
    """Refuses data prepared with other fields or vocabularies than the model's."""
    check_dataset(description, metadata, checkpoint, dataset_dir)


def training_metadata(description: Dict[str, Any]) -> DatasetMetadata:
    """Metadata with the training data's fields and vocabularies (no splits)."""
    d = description["dataset"]
    return DatasetMetadata(
        name=d["name"],
        numeric=d["numeric"],
        categorical=d["categorical"],
        vocab_sizes=d["vocab_sizes"],
        splits={},
    )


def load_model_weights(
    checkpoint: str, model: nn.Module, single_process: bool = False
) -> None:
    """
    Loads the model part of a checkpoint into ``model`` (sharded or not). DCP reshards:
    with ``single_process`` the full tables are read into an unsharded model.
    """
    state = {"model": model.state_dict()}
    try:
        dcp.load(state, checkpoint_id=checkpoint, no_dist=single_process)
    except (
        Exception,
        CheckpointException,
    ) as e:  # DCP: every rank's failure, a BaseException
        lines = str(e).strip().splitlines() or [type(e).__name__]
        raise NotACheckpoint(f"{checkpoint}: cannot be read ({lines[-1][:200]})") from e
    model.load_state_dict(state["model"])
