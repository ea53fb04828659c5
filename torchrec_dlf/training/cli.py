"""Command-line interface of the training job (``launch/train.py``)."""

import argparse
import os
import sys
from dataclasses import fields
from typing import Any, Dict, List, Optional

from torchrec_dlf.data.synthetic import SyntheticConfig, ensure_synthetic_dataset
from torchrec_dlf.host_allocator import keep_freed_host_memory
from torchrec_dlf.training.arguments import validate_train_args
from torchrec_dlf.training.distributed import destroy_distributed, init_distributed
from torchrec_dlf.training.job_logging import configure_logging
from torchrec_dlf.training.model_config import DEPRECATED_INTERACTION_TYPES, ModelConfig
from torchrec_dlf.training.quiet import quiet_library_messages
from torchrec_dlf.training.train_flags import build_parser  # noqa: F401 (re-exported)
from torchrec_dlf.training.trainer import TrainConfig, Trainer, TrainingInterrupted
from torchrec_dlf.user_errors import (
    UserError,
    explicit_flags,
    mark_before_process_group,
    run_command,
)


def _pick(cls: Any, args: Dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in args.items() if k in names})


def configs_from_args(args: argparse.Namespace) -> "tuple[ModelConfig, TrainConfig]":
    values = vars(args)
    return _pick(ModelConfig, values), _pick(TrainConfig, values)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """
    Trains as the command line says. Flags, the dataset and every output location are
    checked before the process group starts; a `UserError` is the caller's to report
    (``launch/train.py`` prints it as one line and exits 2).
    """
    keep_freed_host_memory()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verbose:
        quiet_library_messages()
    configure_logging(int(os.environ.get("RANK", "0")), args.verbose)
    model_config, train_config = configs_from_args(args)
    try:
        model_config.validate()
        _, warnings = validate_train_args(args, explicit_flags(parser, argv))
    except UserError as e:
        raise mark_before_process_group(e)
    if args.interaction_type in DEPRECATED_INTERACTION_TYPES:
        new = DEPRECATED_INTERACTION_TYPES[args.interaction_type]
        warnings.insert(
            0,
            f"warning: --interaction_type {args.interaction_type} is deprecated and "
            f"will be removed; it means --interaction_type {new}",
        )
    if int(os.environ.get("RANK", "0")) == 0:
        for line in warnings:
            print(line, file=sys.stderr, flush=True)
    synthetic = SyntheticConfig(
        train_rows=args.synthetic_train_rows,
        valid_rows=args.synthetic_eval_rows,
        test_rows=args.synthetic_eval_rows,
        seed=args.synthetic_seed,
        multi_hot=args.multi_hot,
        multi_hot_distribution=args.multi_hot_distribution,
        multi_hot_pooling=args.multi_hot_pooling,
    )
    try:
        synthetic.bag_sizes  # checks the --multi_hot* flags
    except UserError as e:
        raise mark_before_process_group(e)
    ctx = init_distributed(args.device)
    try:
        dataset_dir = args.dataset_dir
        if dataset_dir is None:
            dataset_dir = ensure_synthetic_dataset(synthetic, args.cache_dir)
        try:
            return Trainer(model_config, train_config, dataset_dir, ctx).run()
        except TrainingInterrupted as stop:
            if ctx.is_rank_zero:
                print(
                    f"[torchrec_dlf] {stop}; run the same command again to continue",
                    flush=True,
                )
            return {"interrupted_at_step": stop.step}
    finally:
        destroy_distributed()


def run(argv: Optional[List[str]] = None) -> int:
    """``main`` with user errors as one line and exit status 2 (``launch/train.py``)."""
    return run_command(lambda: main(argv))
