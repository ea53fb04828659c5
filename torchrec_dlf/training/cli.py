"""Command-line interface of the training job (``launch/train.py``)."""

import argparse
import os
import sys
from dataclasses import fields
from typing import Any, Dict, List, Optional

from torchrec_dlf.data.synthetic import SyntheticConfig, ensure_synthetic_dataset
from torchrec_dlf.dlrm_dlf import DENSE_EMBEDDINGS
from torchrec_dlf.modules.block_mlp import BLOCK_NORMS
from torchrec_dlf.modules.dlf_layer import FUSION_TYPES
from torchrec_dlf.training.arguments import validate_train_args
from torchrec_dlf.training.distributed import destroy_distributed, init_distributed
from torchrec_dlf.training.embedding_regularization import (
    EMBEDDING_DECAY_KERNELS,
    EMBEDDING_L2_MODES,
)
from torchrec_dlf.training.model_factory import (
    EMBEDDING_INITS,
    INTERACTION_TYPES,
    ModelConfig,
)
from torchrec_dlf.training.optimizers import DENSE_OPTIMIZERS, EMBEDDING_OPTIMIZERS
from torchrec_dlf.training.quiet import quiet_library_messages
from torchrec_dlf.training.sharding import SHARDING_CHOICES
from torchrec_dlf.training.trainer import TrainConfig, Trainer, TrainingInterrupted
from torchrec_dlf.user_errors import (
    CommandLineParser,
    UserError,
    explicit_flags,
    mark_before_process_group,
    run_command,
)


def _int_list(text: str) -> List[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from e


def _on_off(text: str) -> bool:
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected 'on' or 'off', got {text!r}")
    return text == "on"


def build_parser() -> argparse.ArgumentParser:
    """
    Flags follow TorchRec's dlrm_main where they overlap. None is an ambiguous prefix of
    a torchrun option (``--nproc...``, ``--m...``), so the same flags pass through
    ``torchx run dist.ddp ... -- <flags>`` unchanged.
    """
    m, t = ModelConfig(), TrainConfig()
    p = CommandLineParser(
        description="Train DLRM_DLF (or a TorchRec DLRM baseline) with DMP + FBGEMM.",
    )
    data = p.add_argument_group("data")
    data.add_argument(
        "--dataset_dir",
        default=None,
        help="prepared dataset directory (datasets/); default: the embedded synthetic set",
    )
    data.add_argument(
        "--cache_dir", default=None, help="where the synthetic set is cached"
    )
    data.add_argument(
        "--synthetic_train_rows", type=int, default=SyntheticConfig.train_rows
    )
    data.add_argument(
        "--synthetic_eval_rows", type=int, default=SyntheticConfig.valid_rows
    )
    data.add_argument("--synthetic_seed", type=int, default=SyntheticConfig.seed)

    model = p.add_argument_group("model")
    model.add_argument(
        "--interaction_type", choices=INTERACTION_TYPES, default=m.interaction_type
    )
    model.add_argument("--embedding_dim", type=int, default=m.embedding_dim)
    model.add_argument(
        "--embedding_init",
        choices=EMBEDDING_INITS,
        default=m.embedding_init,
        help="table initialisation: TorchRec's uniform(+-1/sqrt(rows)), or normal / "
        "uniform with --embedding_init_std (FuxiCTR: normal, 1e-4)",
    )
    model.add_argument("--embedding_init_std", type=float, default=m.embedding_init_std)
    model.add_argument("--dense_arch_layer_sizes", type=_int_list, default=None)
    model.add_argument(
        "--over_arch_layer_sizes", type=_int_list, default=m.over_arch_layer_sizes
    )
    model.add_argument("--dcn_num_layers", type=int, default=m.dcn_num_layers)
    model.add_argument("--dcn_low_rank_dim", type=int, default=m.dcn_low_rank_dim)
    model.add_argument(
        "--interaction_branch1_layer_sizes",
        type=_int_list,
        default=m.interaction_branch1_layer_sizes,
    )
    model.add_argument(
        "--interaction_branch2_layer_sizes",
        type=_int_list,
        default=m.interaction_branch2_layer_sizes,
    )
    model.add_argument("--dlf_num_layers", type=int, default=m.dlf_num_layers)
    model.add_argument(
        "--dlf_tokens_per_block", type=int, default=m.dlf_tokens_per_block
    )
    model.add_argument("--dlf_rank", type=int, default=m.dlf_rank)
    model.add_argument("--dlf_block_mlp_width", type=int, default=m.dlf_block_mlp_width)
    model.add_argument("--dlf_num_heads", type=int, default=m.dlf_num_heads)
    model.add_argument("--dlf_dropout", type=float, default=m.dlf_dropout)
    model.add_argument(
        "--dlf_low_order", type=_on_off, default=m.dlf_low_order, metavar="{on,off}"
    )
    model.add_argument("--dlf_fusion", choices=FUSION_TYPES, default=m.dlf_fusion)
    model.add_argument(
        "--dlf_gate", type=_on_off, default=m.dlf_gate, metavar="{on,off}"
    )
    model.add_argument(
        "--dlf_implicit_activation",
        type=_on_off,
        default=m.dlf_implicit_activation,
        metavar="{on,off}",
    )
    model.add_argument(
        "--dlf_block_norm",
        choices=BLOCK_NORMS,
        default=m.dlf_block_norm,
        help="block MLP normalisation: layer (no running statistics, any batch size) or "
        "batch (the released code's BatchNorm)",
    )
    model.add_argument(
        "--dlf_branch_scale",
        type=_on_off,
        default=m.dlf_branch_scale,
        metavar="{on,off}",
        help="streams enter each layer through a learned scalar initialised at 0 "
        "(ReZero); off: the released code's plain sum",
    )
    model.add_argument(
        "--dlf_scale_output",
        type=_on_off,
        default=m.dlf_scale_output,
        metavar="{on,off}",
        help="scale the flattened DLF output to unit norm per sample before the over arch",
    )
    model.add_argument(
        "--dense_embedding", choices=DENSE_EMBEDDINGS, default=m.dense_embedding
    )
    model.add_argument("--dcnv2_cross_layers", type=int, default=m.dcnv2_cross_layers)
    model.add_argument(
        "--dcnv2_mlp_layer_sizes", type=_int_list, default=m.dcnv2_mlp_layer_sizes
    )
    model.add_argument("--dcnv2_dropout", type=float, default=m.dcnv2_dropout)
    model.add_argument(
        "--deepfm_mlp_layer_sizes", type=_int_list, default=m.deepfm_mlp_layer_sizes
    )
    model.add_argument("--deepfm_dropout", type=float, default=m.deepfm_dropout)

    train = p.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=t.epochs)
    train.add_argument("--batch_size", type=int, default=t.batch_size)
    train.add_argument("--test_batch_size", type=int, default=None)
    train.add_argument("--learning_rate", type=float, default=t.learning_rate)
    train.add_argument(
        "--dense_optimizer", choices=sorted(DENSE_OPTIMIZERS), default=t.dense_optimizer
    )
    train.add_argument(
        "--embedding_optimizer",
        choices=sorted(EMBEDDING_OPTIMIZERS),
        default=t.embedding_optimizer,
    )
    train.add_argument(
        "--embedding_learning_rate", type=float, default=t.embedding_learning_rate
    )
    train.add_argument(
        "--embedding_l2",
        type=float,
        default=t.embedding_l2,
        help="embedding L2 strength lambda (see --embedding_l2_mode)",
    )
    train.add_argument(
        "--embedding_l2_mode",
        choices=EMBEDDING_L2_MODES,
        default=t.embedding_l2_mode,
        help="lookup: lambda * mean_b sum_f ||e||^2 of the looked-up rows in the loss; "
        "table: (lambda/2) ||W||^2 over whole tables (FuxiCTR), in the gradient of "
        "replicated tables and as the trainer's SGD step W *= 1 - lr*lambda on fused "
        "ones; decoupled: W *= 1 - lr*lambda on every table after each step",
    )
    train.add_argument(
        "--embedding_decay_every",
        type=int,
        default=t.embedding_decay_every,
        help="apply whole-table decay every N steps, compounded (bounds its cost on "
        "very large tables)",
    )
    train.add_argument(
        "--embedding_decay_kernel",
        choices=EMBEDDING_DECAY_KERNELS,
        default=t.embedding_decay_kernel,
        help="who decays fused tables: the trainer (any device), or FBGEMM's lazy "
        "DECOUPLE_GLOBAL (CUDA, decoupled mode, rowwise_adagrad)",
    )
    train.add_argument(
        "--data_parallel_max_rows",
        type=int,
        default=t.data_parallel_max_rows,
        help="replicate (data_parallel) tables with at most this many rows and shard "
        "the rest with --sharding; 0: none",
    )
    train.add_argument(
        "--data_parallel_embedding_optimizer",
        choices=sorted(EMBEDDING_OPTIMIZERS),
        default=None,
        help="optimizer of the data_parallel tables (default: --embedding_optimizer); "
        "adam works on CPU",
    )
    train.add_argument(
        "--data_parallel_embedding_learning_rate",
        type=float,
        default=None,
        help="learning rate of the data_parallel tables (default: "
        "--embedding_learning_rate)",
    )
    train.add_argument(
        "--dense_precision",
        choices=("fp32", "bf16"),
        default=t.dense_precision,
        help="bf16: autocast the dense, interaction and over archs (embeddings stay fp32)",
    )
    train.add_argument("--gradient_clip_norm", type=float, default=t.gradient_clip_norm)
    train.add_argument("--early_stop_patience", type=int, default=t.early_stop_patience)
    train.add_argument("--lr_decay_factor", type=float, default=t.lr_decay_factor)
    train.add_argument("--validation_freq_within_epoch", type=int, default=None)
    train.add_argument("--limit_train_batches", type=int, default=None)
    train.add_argument("--limit_val_batches", type=int, default=None)
    train.add_argument("--limit_test_batches", type=int, default=None)
    train.add_argument(
        "--shuffle_batches", type=_on_off, default=t.shuffle_batches, metavar="{on,off}"
    )
    train.add_argument("--drop_last", action="store_true")
    train.add_argument("--shuffle_buffer_rows", type=int, default=t.shuffle_buffer_rows)
    train.add_argument("--seed", type=int, default=t.seed)
    train.add_argument(
        "--print_progress", type=_on_off, default=t.print_progress, metavar="{on,off}"
    )
    train.add_argument("--print_sharding_plan", action="store_true")
    train.add_argument(
        "--sharding",
        choices=SHARDING_CHOICES,
        default=t.sharding,
        help="auto: TorchRec's planner; otherwise this sharding type for every table",
    )
    train.add_argument(
        "--planner_sharding_types",
        type=lambda s: [x for x in s.split(",") if x],
        default=None,
        help="sharding types the planner may use (auto only; default: the fused types, "
        "i.e. all but data_parallel)",
    )
    train.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    train.add_argument(
        "--output_dir",
        default=t.output_dir,
        help="metrics go to <output_dir>/<run_name>/",
    )
    train.add_argument(
        "--run_name", default=None, help="default: <interaction_type>-<date>-<time>"
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the metrics.json of an earlier run with the same --run_name",
    )
    train.add_argument("--verbose", action="store_true", help="keep library warnings")
    train.add_argument(
        "--gradient_norm_every",
        type=int,
        default=t.gradient_norm_every,
        help="record the gradient norm of each DLF stream and of the embeddings every N "
        "steps (0: off); written to metrics.json",
    )

    ckpt = p.add_argument_group("checkpoints")
    ckpt.add_argument(
        "--checkpoint_dir",
        default=None,
        help="write DCP checkpoints here (and resume from the latest one, see --resume)",
    )
    ckpt.add_argument(
        "--checkpoint_every_n_steps",
        type=int,
        default=None,
        help="checkpoint every N training steps (always at the end of each epoch)",
    )
    ckpt.add_argument(
        "--keep_last_checkpoints", type=int, default=t.keep_last_checkpoints
    )
    ckpt.add_argument(
        "--resume",
        default=t.resume,
        help="auto: continue from the latest complete checkpoint in --checkpoint_dir if "
        "there is one; never; or the path of a step_* checkpoint",
    )
    ckpt.add_argument(
        "--stop_after_steps",
        type=int,
        default=None,
        help="stop as if preempted after this many steps (with a checkpoint when "
        "--checkpoint_dir is set); the same command continues the run",
    )
    return p


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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verbose:
        quiet_library_messages()
    model_config, train_config = configs_from_args(args)
    try:
        model_config.validate()
        _, warnings = validate_train_args(args, explicit_flags(parser, argv))
    except UserError as e:
        raise mark_before_process_group(e)
    if int(os.environ.get("RANK", "0")) == 0:
        for line in warnings:
            print(line, file=sys.stderr, flush=True)
    ctx = init_distributed(args.device)
    try:
        dataset_dir = args.dataset_dir
        if dataset_dir is None:
            synthetic = SyntheticConfig(
                train_rows=args.synthetic_train_rows,
                valid_rows=args.synthetic_eval_rows,
                test_rows=args.synthetic_eval_rows,
                seed=args.synthetic_seed,
            )
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
