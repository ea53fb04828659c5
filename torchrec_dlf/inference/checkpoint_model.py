"""Rebuilding a trained model from a checkpoint written by the trainer."""

import json
import os
from typing import Any, Dict

import torch.distributed.checkpoint as dcp
from torch import nn

from torchrec_dlf.data.metadata import DatasetFormatError, DatasetMetadata
from torchrec_dlf.training.checkpoint import STATE_FILE
from torchrec_dlf.training.model_factory import ModelConfig

_DESCRIPTION_FILES = (STATE_FILE, "best.json")


def read_description(checkpoint: str) -> Dict[str, Any]:
    """The model description saved with a step checkpoint or with ``best/``."""
    for name in _DESCRIPTION_FILES:
        path = os.path.join(checkpoint, name)
        if os.path.isfile(path):
            with open(path) as f:
                description = json.load(f)
            if "model_config" not in description:
                raise ValueError(f"{path}: written by an older trainer, no model description")
            return description
    raise FileNotFoundError(
        f"{checkpoint}: not a checkpoint (no {' or '.join(_DESCRIPTION_FILES)})"
    )


def model_config(description: Dict[str, Any]) -> ModelConfig:
    return ModelConfig(**description["model_config"])


def check_vocabulary(description: Dict[str, Any], metadata: DatasetMetadata) -> None:
    """Refuses data prepared with other fields or vocabularies than the model's."""
    trained = description["dataset"]
    for key in ("numeric", "categorical", "vocab_sizes"):
        if trained[key] != getattr(metadata, key):
            raise DatasetFormatError(
                f"the dataset's {key} differ from those the model was trained with "
                f"({trained['name']}): prepare the data with the training vocabulary"
            )


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


def load_model_weights(checkpoint: str, model: nn.Module, single_process: bool = False) -> None:
    """
    Loads the model part of a checkpoint into ``model`` (sharded or not). DCP reshards:
    with ``single_process`` the full tables are read into an unsharded model.
    """
    state = {"model": model.state_dict()}
    dcp.load(state, checkpoint_id=checkpoint, no_dist=single_process)
    model.load_state_dict(state["model"])
