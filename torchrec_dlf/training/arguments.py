"""Checks of the training command line, run before any process group or model exists.

Each refusal is a `ConfigError` (or `OutputError`) naming the flag; flags that do
nothing for the chosen model are reported as warnings. Every rank runs the same checks
on the same arguments, so a bad flag stops a 16-rank job before its first collective.
"""

import argparse
import math
import os
from importlib.util import find_spec
from typing import Iterable, List, Optional, Set

import torch

from torchrec_dlf.data.metadata import METADATA_FILE, SPLITS, DatasetMetadata
from torchrec_dlf.data.synthetic import SyntheticConfig
from torchrec_dlf.safe_output import check_writable_directory
from torchrec_dlf.training.checkpoint import is_checkpoint_directory
from torchrec_dlf.training.lr_schedule import STEP_DECAYS
from torchrec_dlf.training.model_factory import ModelConfig, model_settings
from torchrec_dlf.training.sharding import PlannerOptions
from torchrec_dlf.user_errors import ConfigError, OutputError

# Integer flags and their smallest allowed value (None: the flag may be unset).
_AT_LEAST = {
    "epochs": 1,
    "batch_size": 1,
    "test_batch_size": 1,
    "embedding_dim": 4,
    "dcn_num_layers": 1,
    "dcn_low_rank_dim": 1,
    "dlf_num_layers": 1,
    "dlf_tokens_per_block": 1,
    "dlf_rank": 1,
    "dlf_block_mlp_width": 1,
    "dlf_num_heads": 1,
    "dcnv2_cross_layers": 0,
    "synthetic_train_rows": 1,
    "synthetic_eval_rows": 1,
    "embedding_decay_every": 1,
    "data_parallel_max_rows": 0,
    "early_stop_patience": 1,
    "validation_freq_within_epoch": 1,
    "limit_train_batches": 1,
    "limit_val_batches": 1,
    "limit_test_batches": 1,
    "shuffle_buffer_rows": 1,
    "gradient_norm_every": 0,
    "log_every_n_steps": 1,
    "metrics_window_size": 1,
    "lr_warmup_steps": 0,
    "lr_decay_start": 0,
    "lr_decay_steps": 1,
    "checkpoint_every_n_steps": 1,
    "keep_last_checkpoints": 1,
    "stop_after_steps": 1,
}
_LAYER_LISTS = (
    "dense_arch_layer_sizes",
    "over_arch_layer_sizes",
    "interaction_branch1_layer_sizes",
    "interaction_branch2_layer_sizes",
    "dcnv2_mlp_layer_sizes",
    "deepfm_mlp_layer_sizes",
)
_POSITIVE_FLOATS = (
    "learning_rate",
    "embedding_learning_rate",
    "embedding_init_std",
    "lr_decay_power",
)
_OPTIONAL_POSITIVE_FLOATS = ("data_parallel_embedding_learning_rate",)
_NON_NEGATIVE_FLOATS = ("embedding_l2", "gradient_clip_norm")
_DROPOUTS = ("dlf_dropout", "dcnv2_dropout", "deepfm_dropout")
_RESUME_WORDS = ("auto", "never")
# The schedule flags each --lr_schedule reads (--lr_warmup_steps: all of them).
_SCHEDULE_FLAGS = {
    "plateau": ("lr_decay_factor",),
    "constant": (),
    "step": ("lr_decay_start", "lr_decay_steps", "lr_decay_factor"),
    "linear": ("lr_decay_start", "lr_decay_steps", "lr_decay_end_factor"),
    "poly": (
        "lr_decay_start",
        "lr_decay_steps",
        "lr_decay_end_factor",
        "lr_decay_power",
    ),
    "cosine": ("lr_decay_start", "lr_decay_steps", "lr_decay_end_factor"),
}
_ALL_SCHEDULE_FLAGS = sorted({n for names in _SCHEDULE_FLAGS.values() for n in names})


def _flag(name: str) -> str:
    return f"--{name}"


def _check_numbers(args: argparse.Namespace) -> None:
    values = vars(args)
    for name, low in _AT_LEAST.items():
        value = values.get(name)
        if value is not None and value < low:
            raise ConfigError(f"{_flag(name)} must be >= {low}, got {value}")
    for name in _LAYER_LISTS:
        sizes = values.get(name)
        if sizes is None:
            continue
        if not sizes:
            raise ConfigError(f"{_flag(name)} needs at least one layer size")
        bad = [s for s in sizes if s < 1]
        if bad:
            raise ConfigError(f"{_flag(name)}: layer sizes must be >= 1, got {sizes}")
    for name in _POSITIVE_FLOATS + _OPTIONAL_POSITIVE_FLOATS:
        value = values.get(name)
        if value is None and name in _OPTIONAL_POSITIVE_FLOATS:
            continue
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{_flag(name)} must be a finite number > 0, got {value}")
    for name in _NON_NEGATIVE_FLOATS:
        value = values.get(name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ConfigError(
                f"{_flag(name)} must be a finite number >= 0, got {value}"
            )
    for name in _DROPOUTS:
        value = values.get(name)
        if value is not None and not 0.0 <= value < 1.0:
            raise ConfigError(f"{_flag(name)} must be in [0, 1), got {value}")
    decay = values.get("lr_decay_factor")
    if decay is not None and not 0.0 < decay <= 1.0:
        raise ConfigError(f"--lr_decay_factor must be in (0, 1], got {decay}")
    end = values.get("lr_decay_end_factor")
    if end is not None and not 0.0 <= end <= 1.0:
        raise ConfigError(f"--lr_decay_end_factor must be in [0, 1], got {end}")


def _check_tensorboard(args: argparse.Namespace) -> None:
    if getattr(args, "tensorboard", False) and find_spec("tensorboard") is None:
        raise ConfigError(
            "--tensorboard on needs the tensorboard package (requirements-common.txt: "
            "make env), or pass --tensorboard off"
        )


def _check_lr_schedule(args: argparse.Namespace) -> None:
    schedule = getattr(args, "lr_schedule", "plateau")
    if schedule in STEP_DECAYS and args.lr_decay_start < args.lr_warmup_steps:
        raise ConfigError(
            f"--lr_decay_start {args.lr_decay_start} is inside the warmup "
            f"(--lr_warmup_steps {args.lr_warmup_steps}): the decay must start after it"
        )


def ignored_schedule_flags(
    args: argparse.Namespace, explicit: Iterable[str]
) -> List[str]:
    """Schedule flags given on the command line that ``--lr_schedule`` does not read."""
    used = set(_SCHEDULE_FLAGS[getattr(args, "lr_schedule", "plateau")])
    return sorted(n for n in explicit if n in _ALL_SCHEDULE_FLAGS and n not in used)


def ignored_model_flags(args: argparse.Namespace, explicit: Iterable[str]) -> List[str]:
    """Model flags given on the command line that the chosen model does not use."""
    used = set(model_settings(args.interaction_type, args.embedding_init))
    model_fields = set(ModelConfig.__dataclass_fields__)
    return sorted(n for n in explicit if n in model_fields and n not in used)


# Flags that shape the embedded synthetic set (no effect with --dataset_dir).
_SYNTHETIC_FLAGS = (
    "synthetic_train_rows",
    "synthetic_eval_rows",
    "synthetic_seed",
    "multi_hot",
    "multi_hot_distribution",
    "multi_hot_pooling",
)


def _check_dataset(dataset_dir: str) -> DatasetMetadata:
    if not os.path.isdir(dataset_dir):
        raise ConfigError(f"--dataset_dir {dataset_dir}: no such directory")
    meta = DatasetMetadata.read(dataset_dir)
    for split in SPLITS:
        info = meta.split(split)
        if info.rows == 0:
            raise ConfigError(
                f"--dataset_dir {dataset_dir}: split {split!r} has no rows "
                f"({os.path.join(dataset_dir, METADATA_FILE)}); prepare it again with "
                f"rows in every split"
            )
    return meta


def _check_gauc_field(
    args: argparse.Namespace, meta: Optional[DatasetMetadata]
) -> None:
    field = args.gauc_field
    if field is None:
        return
    if meta is not None:
        fields, bags, where = meta.categorical, set(meta.multi_hot), args.dataset_dir
    else:
        synthetic = SyntheticConfig(
            multi_hot=args.multi_hot,
            multi_hot_distribution=args.multi_hot_distribution,
        )
        fields = synthetic.categorical_names
        bags = {n for n, k in zip(fields, synthetic.bag_sizes) if k > 1}
        where = "the embedded synthetic set"
    if field not in fields:
        raise ConfigError(
            f"--gauc_field {field}: not a categorical field of {where} "
            f"({', '.join(fields)})"
        )
    if field in bags:
        raise ConfigError(
            f"--gauc_field {field}: a multi-hot field of {where}; a group needs one "
            "id per row"
        )


def _check_outputs(args: argparse.Namespace, dataset_dir: Optional[str]) -> None:
    inputs = [dataset_dir] if dataset_dir else []
    # Only rank 0 writes metrics; probing on one rank avoids racing over the probes.
    probe = int(os.environ.get("RANK", "0")) == 0
    run_dir = os.path.join(args.output_dir, args.run_name) if args.run_name else None
    check_writable_directory(args.output_dir, "--output_dir", probe)
    if run_dir is not None:
        check_writable_directory(run_dir, "--output_dir/--run_name", probe)
        if os.path.isfile(os.path.join(run_dir, "metrics.json")) and not args.overwrite:
            raise OutputError(
                f"--output_dir/--run_name {run_dir}: holds the metrics.json of an earlier "
                f"run; refusing to replace it (choose another --run_name or pass "
                f"--overwrite)"
            )
    for source in inputs:
        for flag, path in (
            ("--output_dir", args.output_dir),
            ("--checkpoint_dir", args.checkpoint_dir),
        ):
            if path and _overlaps(path, source):
                raise OutputError(f"{flag} {path}: inside or around the input {source}")
    ckpt = args.checkpoint_dir
    if ckpt is not None:
        check_writable_directory(ckpt, "--checkpoint_dir", probe)
        if (
            os.path.isdir(ckpt)
            and os.listdir(ckpt)
            and not is_checkpoint_directory(ckpt)
        ):
            raise OutputError(
                f"--checkpoint_dir {ckpt}: a non-empty directory that holds no "
                f"checkpoints of this trainer; refusing to write into it"
            )


def _overlaps(a: str, b: str) -> bool:
    a, b = os.path.realpath(a), os.path.realpath(b)
    return a == b or a.startswith(b + os.sep) or b.startswith(a + os.sep)


def _check_resume(args: argparse.Namespace) -> None:
    if args.resume in _RESUME_WORDS:
        return
    if not os.path.isdir(args.resume):
        raise ConfigError(
            f"--resume {args.resume}: expected auto, never or the directory of a step_* "
            f"checkpoint"
        )
    if args.checkpoint_dir is None:
        raise ConfigError(
            "--resume <path> needs --checkpoint_dir (where training continues)"
        )


# The planner's flags (--sharding auto only) that default to None.
_PLANNER_FLAGS = (
    "planner_sharding_types",
    "planner_compute_kernels",
    "planner_hbm_gb",
    "planner_ddr_gb",
    "planner_uvm_caching_load_factor",
)


def _check_planner(args: argparse.Namespace, explicit: Set[str]) -> None:
    """The planner's flags: auto only, in range, and nothing CUDA-only on
    ``--device cpu`` (``auto`` resolving to CPU is refused in `plan_sharding`)."""
    values = vars(args)
    given = [n for n in _PLANNER_FLAGS if values.get(n) is not None]
    if "planner_storage_reservation" in explicit:
        given.append("planner_storage_reservation")
    if given and values.get("sharding", "auto") != "auto":
        raise ConfigError(f"{_flag(given[0])} applies to --sharding auto only")
    for name in ("planner_storage_reservation", *_PLANNER_FLAGS[2:]):
        value = values.get(name)
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"{_flag(name)} must be a finite number, got {value}")
    cpu = values.get("device", "auto") == "cpu"
    PlannerOptions.from_settings(values).check(torch.device("cpu" if cpu else "cuda"))


def validate_train_args(
    args: argparse.Namespace, explicit: Set[str]
) -> "tuple[Optional[DatasetMetadata], List[str]]":
    """
    Checks every flag, the dataset and the output locations; returns the dataset's
    metadata (None for the embedded synthetic set) and warnings to print.
    """
    _check_numbers(args)
    _check_lr_schedule(args)
    _check_tensorboard(args)
    _check_resume(args)
    _check_planner(args, explicit)
    warnings = []
    ignored = ignored_model_flags(args, explicit)
    if ignored:
        flags = ", ".join(_flag(n) for n in ignored)
        warnings.append(
            f"warning: {flags} {'has' if len(ignored) == 1 else 'have'} no effect with "
            f"--interaction_type {args.interaction_type}"
            + (
                f" --embedding_init {args.embedding_init}"
                if "embedding_init_std" in ignored
                else ""
            )
            + " (ignored)"
        )
    ignored = ignored_schedule_flags(args, explicit)
    if ignored:
        flags = ", ".join(_flag(n) for n in ignored)
        warnings.append(
            f"warning: {flags} {'has' if len(ignored) == 1 else 'have'} no effect with "
            f"--lr_schedule {args.lr_schedule} (ignored)"
        )
    ignored = [
        name
        for name in _SYNTHETIC_FLAGS
        if args.dataset_dir is not None and name in explicit
    ]
    if ignored:
        flags = ", ".join(_flag(n) for n in ignored)
        warnings.append(
            f"warning: {flags} {'shapes' if len(ignored) == 1 else 'shape'} the "
            "embedded synthetic set only, not --dataset_dir (ignored)"
        )
    meta = _check_dataset(args.dataset_dir) if args.dataset_dir is not None else None
    _check_gauc_field(args, meta)
    _check_outputs(args, args.dataset_dir)
    return meta, warnings
