"""What a checkpoint says about the model and the data it was trained on, and the checks
every load makes against it before touching any weight."""

import os
from dataclasses import asdict, fields
from typing import Any, Dict, List, Optional

from torchrec_dlf.data.metadata import DatasetFormatError, DatasetMetadata
from torchrec_dlf.training.model_config import ModelConfig, canonical_interaction_type
from torchrec_dlf.user_errors import UserError


class CheckpointMismatch(UserError):
    """A checkpoint loaded into a model built with other settings."""


class DatasetMismatch(DatasetFormatError):
    """A dataset whose ids do not mean what they meant when the checkpoint was trained."""


def describe_model(
    model_config: ModelConfig,
    dense_precision: str,
    metadata: DatasetMetadata,
    dataset_dir: str,
) -> Dict[str, Any]:
    """What is needed to rebuild the model from a checkpoint and to check its data."""
    return {
        "model_config": asdict(model_config),
        "dense_precision": dense_precision,
        "dataset": {
            "name": metadata.name,
            "dir": os.path.abspath(dataset_dir),
            "identity": metadata.identity,
            "numeric": metadata.numeric,
            "categorical": metadata.categorical,
            "vocab_sizes": metadata.vocab_sizes,
        },
    }


def _short(identity: str) -> str:
    return identity[:12] if identity else "unrecorded"


def _listing(names: List[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def dataset_difference(
    trained: Dict[str, Any], metadata: DatasetMetadata
) -> Optional[str]:
    """
    None when ``metadata`` encodes data as the checkpoint's dataset did, else what
    differs, in a few words. Checkpoints written before identities were recorded are
    compared by fields and vocabulary sizes only.
    """
    if trained.get("numeric") != metadata.numeric:
        return f"numeric fields {trained.get('numeric')} vs {metadata.numeric}"
    if trained.get("categorical") != metadata.categorical:
        return (
            f"categorical fields {trained.get('categorical')} vs {metadata.categorical}"
        )
    sizes = trained.get("vocab_sizes") or {}
    resized = [
        c for c in metadata.categorical if sizes.get(c) != metadata.vocab_sizes[c]
    ]
    if resized:
        pairs = [f"{c} {sizes.get(c)} vs {metadata.vocab_sizes[c]}" for c in resized]
        return f"vocabulary sizes differ ({_listing(pairs)})"
    identity = trained.get("identity")
    if identity and identity != metadata.identity:
        return (
            f"same fields and sizes but other vocabularies (identity "
            f"{_short(identity)} vs {_short(metadata.identity)}): prepared from other "
            f"data or with another split seed"
        )
    return None


def check_dataset(
    description: Dict[str, Any],
    metadata: DatasetMetadata,
    checkpoint: str,
    dataset_dir: str,
) -> None:
    """Refuses a dataset whose ids do not mean what they meant in training."""
    trained = description.get("dataset") or {}
    difference = dataset_difference(trained, metadata)
    if difference is not None:
        raise DatasetMismatch(
            f"checkpoint {checkpoint} was trained on dataset {trained.get('name')!r} "
            f"({trained.get('dir')}) and --dataset_dir {dataset_dir} encodes its data "
            f"differently: {difference}; prepare it with --vocabulary_from "
            f"{trained.get('dir')}"
        )


def config_difference(saved: Dict[str, Any], config: ModelConfig) -> List[str]:
    """``name saved -> given`` for every model setting that differs."""
    given = asdict(config)
    names = [f.name for f in fields(ModelConfig)]
    if "interaction_type" in saved:  # a checkpoint may use a deprecated name (lr)
        kind = canonical_interaction_type(saved["interaction_type"])
        saved = {**saved, "interaction_type": kind}
    return [
        f"{n} {saved.get(n)!r} -> {given[n]!r}"
        for n in names
        if n in saved and saved[n] != given[n]
    ]


def check_model_config(
    description: Dict[str, Any], config: ModelConfig, checkpoint: str
) -> None:
    """Refuses to load a checkpoint into a model built with other settings."""
    saved = description.get("model_config")
    if saved is None:
        return
    differences = config_difference(saved, config)
    if differences:
        raise CheckpointMismatch(
            f"checkpoint {checkpoint} holds another model: {_listing(differences)}; "
            f"use the flags it was trained with or another --checkpoint_dir"
        )
