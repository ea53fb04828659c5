"""The training job's command line: flags grouped by concern, DLF's generated from
`DLFConfig` (one ``--dlf_<field>`` per field, with its default, choices and help)."""

import argparse
import dataclasses
from typing import List

from torchrec_dlf.data.metadata import POOLINGS
from torchrec_dlf.data.synthetic import MULTI_HOT_DISTRIBUTIONS, SyntheticConfig
from torchrec_dlf.models.dlrm_dlf import DENSE_EMBEDDINGS
from torchrec_dlf.modules.dlf_config import DLFConfig
from torchrec_dlf.training.embedding_regularization import (
    EMBEDDING_DECAY_KERNELS,
    EMBEDDING_L2_MODES,
)
from torchrec_dlf.training.lr_schedule import LR_SCHEDULES
from torchrec_dlf.training.model_config import (
    DEPRECATED_INTERACTION_TYPES,
    DLF_PREFIX,
    EMBEDDING_INITS,
    INTERACTION_TYPES,
    ModelConfig,
)
from torchrec_dlf.training.optimizers import DENSE_OPTIMIZERS, EMBEDDING_OPTIMIZERS
from torchrec_dlf.training.sharding import PLANNER_COMPUTE_KERNELS, SHARDING_CHOICES
from torchrec_dlf.training.train_config import TrainConfig
from torchrec_dlf.user_errors import CommandLineParser


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
    _add_data_flags(p)
    _add_model_flags(p, m)
    add_dlf_flags(p)
    _add_training_flags(p, t)
    _add_lr_schedule_flags(p, t)
    _add_embedding_regularization_flags(p, t)
    _add_sharding_flags(p, t)
    _add_output_flags(p, t)
    _add_checkpoint_flags(p, t)
    return p


def add_dlf_flags(p: argparse.ArgumentParser) -> None:
    """``--dlf_<field>`` for every `DLFConfig` field: booleans as {on,off}, choices
    where the field has them, its default and help."""
    g = p.add_argument_group("DLF (--interaction_type dlf)")
    for f in dataclasses.fields(DLFConfig):
        meta, flag = f.metadata, f"--{DLF_PREFIX}{f.name}"
        if isinstance(f.default, bool):
            g.add_argument(
                flag,
                type=_on_off,
                default=f.default,
                metavar="{on,off}",
                help=meta["help"],
            )
        elif meta["choices"] is not None:
            g.add_argument(
                flag, choices=meta["choices"], default=f.default, help=meta["help"]
            )
        else:
            g.add_argument(flag, type=f.type, default=f.default, help=meta["help"])


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


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument(
        "--dataset_dir",
        default=None,
        help="prepared dataset directory (datasets/); default: the embedded synthetic set",
    )
    g.add_argument(
        "--cache_dir", default=None, help="where the synthetic set is cached"
    )
    g.add_argument(
        "--synthetic_train_rows", type=int, default=SyntheticConfig.train_rows
    )
    g.add_argument(
        "--synthetic_eval_rows", type=int, default=SyntheticConfig.valid_rows
    )
    g.add_argument("--synthetic_seed", type=int, default=SyntheticConfig.seed)
    g.add_argument(
        "--multi_hot",
        default=SyntheticConfig.multi_hot,
        help="embedded synthetic set only: bags of ids per categorical field, MLPerf "
        "DLRMv2 style, one size per field ('3,2,1,...') or one for all; empty: one-hot",
    )
    g.add_argument(
        "--multi_hot_distribution",
        choices=MULTI_HOT_DISTRIBUTIONS,
        default=SyntheticConfig.multi_hot_distribution,
        help="how the bags' extra ids are drawn (--multi_hot)",
    )
    g.add_argument(
        "--multi_hot_pooling",
        choices=POOLINGS,
        default=SyntheticConfig.multi_hot_pooling,
        help="pooling of the bags' embeddings (--multi_hot)",
    )


def _add_model_flags(p: argparse.ArgumentParser, m: ModelConfig) -> None:
    g = p.add_argument_group("model")
    g.add_argument(
        "--interaction_type",
        choices=INTERACTION_TYPES + tuple(DEPRECATED_INTERACTION_TYPES),
        default=m.interaction_type,
        help="dcn: TorchRec's DLRM_DCN (low-rank cross net over the concatenated "
        "features); dcnv2: DCNv2 with a parallel deep network (FuxiCTR's); logistic: "
        "first-order terms only (lr: its old name, deprecated)",
    )
    g.add_argument("--embedding_dim", type=int, default=m.embedding_dim)
    g.add_argument(
        "--embedding_init",
        choices=EMBEDDING_INITS,
        default=m.embedding_init,
        help="table initialisation: TorchRec's uniform(+-1/sqrt(rows)), or normal / "
        "uniform with --embedding_init_std (FuxiCTR: normal, 1e-4)",
    )
    g.add_argument("--embedding_init_std", type=float, default=m.embedding_init_std)
    g.add_argument("--dense_arch_layer_sizes", type=_int_list, default=None)
    g.add_argument(
        "--over_arch_layer_sizes", type=_int_list, default=m.over_arch_layer_sizes
    )
    g.add_argument("--dcn_num_layers", type=int, default=m.dcn_num_layers)
    g.add_argument("--dcn_low_rank_dim", type=int, default=m.dcn_low_rank_dim)
    g.add_argument(
        "--interaction_branch1_layer_sizes",
        type=_int_list,
        default=m.interaction_branch1_layer_sizes,
    )
    g.add_argument(
        "--interaction_branch2_layer_sizes",
        type=_int_list,
        default=m.interaction_branch2_layer_sizes,
    )
    g.add_argument(
        "--dense_embedding", choices=DENSE_EMBEDDINGS, default=m.dense_embedding
    )
    g.add_argument("--dcnv2_cross_layers", type=int, default=m.dcnv2_cross_layers)
    g.add_argument(
        "--dcnv2_mlp_layer_sizes", type=_int_list, default=m.dcnv2_mlp_layer_sizes
    )
    g.add_argument("--dcnv2_dropout", type=float, default=m.dcnv2_dropout)
    g.add_argument(
        "--deepfm_mlp_layer_sizes", type=_int_list, default=m.deepfm_mlp_layer_sizes
    )
    g.add_argument("--deepfm_dropout", type=float, default=m.deepfm_dropout)


def _add_training_flags(p: argparse.ArgumentParser, t: TrainConfig) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=t.epochs)
    g.add_argument("--batch_size", type=int, default=t.batch_size)
    g.add_argument("--test_batch_size", type=int, default=None)
    g.add_argument("--learning_rate", type=float, default=t.learning_rate)
    g.add_argument(
        "--dense_optimizer", choices=sorted(DENSE_OPTIMIZERS), default=t.dense_optimizer
    )
    g.add_argument(
        "--embedding_optimizer",
        choices=sorted(EMBEDDING_OPTIMIZERS),
        default=t.embedding_optimizer,
    )
    g.add_argument(
        "--embedding_learning_rate", type=float, default=t.embedding_learning_rate
    )
    g.add_argument(
        "--dense_precision",
        choices=("fp32", "bf16"),
        default=t.dense_precision,
        help="bf16: autocast the dense, interaction and over archs (embeddings stay fp32)",
    )
    g.add_argument(
        "--compile_interaction",
        type=_on_off,
        default=t.compile_interaction,
        metavar="{on,off}",
        help="torch.compile the interaction arch inside the training step (inductor; "
        "the sparse arch, its KJT input and the pipeline stay eager)",
    )
    g.add_argument("--gradient_clip_norm", type=float, default=t.gradient_clip_norm)
    g.add_argument("--early_stop_patience", type=int, default=t.early_stop_patience)
    g.add_argument(
        "--lr_decay_factor",
        type=float,
        default=t.lr_decay_factor,
        help="learning-rate factor per non-improving validation (--lr_schedule "
        "plateau) or per --lr_decay_steps (step)",
    )
    g.add_argument("--validation_freq_within_epoch", type=int, default=None)
    g.add_argument("--limit_train_batches", type=int, default=None)
    g.add_argument("--limit_val_batches", type=int, default=None)
    g.add_argument("--limit_test_batches", type=int, default=None)
    g.add_argument(
        "--shuffle_batches", type=_on_off, default=t.shuffle_batches, metavar="{on,off}"
    )
    g.add_argument("--drop_last", action="store_true")
    g.add_argument("--shuffle_buffer_rows", type=int, default=t.shuffle_buffer_rows)
    g.add_argument("--seed", type=int, default=t.seed)


def _add_lr_schedule_flags(p: argparse.ArgumentParser, t: TrainConfig) -> None:
    g = p.add_argument_group(
        "learning-rate schedule (every optimizer: dense, fused embedding tables, "
        "replicated tables)"
    )
    g.add_argument(
        "--lr_schedule",
        choices=LR_SCHEDULES,
        default=t.lr_schedule,
        help="plateau: x --lr_decay_factor on each validation without improvement; "
        "constant: no decay; step: x --lr_decay_factor every --lr_decay_steps from "
        "--lr_decay_start; linear, poly, cosine: from the base rate at "
        "--lr_decay_start to --lr_decay_end_factor x it over --lr_decay_steps "
        "(poly: MLPerf DLRM's, (1 - t)^--lr_decay_power)",
    )
    g.add_argument(
        "--lr_warmup_steps",
        type=int,
        default=t.lr_warmup_steps,
        help="linear warmup over the first N steps (step s at (s+1)/N of the rate)",
    )
    g.add_argument(
        "--lr_decay_start",
        type=int,
        default=t.lr_decay_start,
        help="first step of a step, linear, poly or cosine decay (>= --lr_warmup_steps)",
    )
    g.add_argument(
        "--lr_decay_steps",
        type=int,
        default=None,
        help="length of a linear/poly/cosine decay, period of step (default: to the "
        "end of training)",
    )
    g.add_argument(
        "--lr_decay_end_factor",
        type=float,
        default=t.lr_decay_end_factor,
        help="where linear, poly and cosine end, as a fraction of the base rate",
    )
    g.add_argument(
        "--lr_decay_power",
        type=float,
        default=t.lr_decay_power,
        help="exponent of the poly decay (MLPerf DLRM: 2)",
    )


def _add_embedding_regularization_flags(
    p: argparse.ArgumentParser, t: TrainConfig
) -> None:
    g = p.add_argument_group("embedding regularisation")
    g.add_argument(
        "--embedding_l2",
        type=float,
        default=t.embedding_l2,
        help="embedding L2 strength lambda (see --embedding_l2_mode)",
    )
    g.add_argument(
        "--embedding_l2_mode",
        choices=EMBEDDING_L2_MODES,
        default=t.embedding_l2_mode,
        help="lookup: lambda * mean_b sum_f ||e||^2 of the looked-up rows in the loss; "
        "table: (lambda/2) ||W||^2 over whole tables (FuxiCTR), in the gradient of "
        "replicated tables and as the trainer's SGD step W *= 1 - lr*lambda on fused "
        "ones; decoupled: W *= 1 - lr*lambda on every table after each step",
    )
    g.add_argument(
        "--embedding_decay_every",
        type=int,
        default=t.embedding_decay_every,
        help="apply whole-table decay every N steps, compounded (bounds its cost on "
        "very large tables)",
    )
    g.add_argument(
        "--embedding_decay_kernel",
        choices=EMBEDDING_DECAY_KERNELS,
        default=t.embedding_decay_kernel,
        help="who decays fused tables: the trainer (any device), or FBGEMM's lazy "
        "DECOUPLE_GLOBAL (CUDA, decoupled mode, rowwise_adagrad)",
    )


def _add_sharding_flags(p: argparse.ArgumentParser, t: TrainConfig) -> None:
    g = p.add_argument_group("sharding")
    g.add_argument(
        "--data_parallel_max_rows",
        type=int,
        default=t.data_parallel_max_rows,
        help="replicate (data_parallel) tables with at most this many rows and shard "
        "the rest with --sharding; 0: none",
    )
    g.add_argument(
        "--data_parallel_embedding_optimizer",
        choices=sorted(EMBEDDING_OPTIMIZERS),
        default=None,
        help="optimizer of the data_parallel tables (default: --embedding_optimizer); "
        "adam works on CPU",
    )
    g.add_argument(
        "--data_parallel_embedding_learning_rate",
        type=float,
        default=None,
        help="learning rate of the data_parallel tables (default: "
        "--embedding_learning_rate)",
    )
    g.add_argument(
        "--sharding",
        choices=SHARDING_CHOICES,
        default=t.sharding,
        help="auto: TorchRec's planner; otherwise this sharding type for every table",
    )
    g.add_argument(
        "--planner_sharding_types",
        type=lambda s: [x for x in s.split(",") if x],
        default=None,
        help="sharding types the planner may use (auto only; default: the fused types, "
        "i.e. all but data_parallel)",
    )
    g.add_argument(
        "--planner_storage_reservation",
        type=float,
        default=t.planner_storage_reservation,
        metavar="FRACTION",
        help="fraction of each rank's HBM the planner keeps back beyond its estimate of "
        "the dense model and batches (auto only; default: TorchRec's 0.15, MLPerf's "
        "DLRM uses 0.05; CPU ranks plan in DDR, which it does not reduce)",
    )
    g.add_argument(
        "--planner_compute_kernels",
        type=lambda s: [x for x in s.split(",") if x],
        default=None,
        help="kernels the planner may give the sharded tables, comma-separated from "
        f"{','.join(PLANNER_COMPUTE_KERNELS)} (auto only; the UVM ones on CUDA only; "
        "default: the planner's choice)",
    )
    g.add_argument(
        "--planner_hbm_gb",
        type=float,
        default=None,
        help="per-rank HBM the planner plans with (auto only, CUDA; default: the GPU's)",
    )
    g.add_argument(
        "--planner_ddr_gb",
        type=float,
        default=None,
        help="per-rank host memory the planner plans with (auto only; default: "
        "TorchRec's 128 GB)",
    )
    g.add_argument(
        "--planner_uvm_caching_load_factor",
        type=float,
        default=None,
        metavar="FRACTION",
        help="let the planner put sharded tables that do not fit in HBM in host memory "
        "(fused_uvm_caching) with an HBM cache of this fraction of their rows (auto "
        "only, CUDA only)",
    )
    g.add_argument(
        "--print_sharding_plan",
        action="store_true",
        help="print the plan on rank 0: TorchRec's planner stats table with auto "
        "(reservation, per-table pooling factors, kernels, storage), the table list "
        "otherwise",
    )
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")


def _add_output_flags(p: argparse.ArgumentParser, t: TrainConfig) -> None:
    g = p.add_argument_group("output")
    g.add_argument(
        "--output_dir",
        default=t.output_dir,
        help="metrics go to <output_dir>/<run_name>/",
    )
    g.add_argument(
        "--run_name", default=None, help="default: <interaction_type>-<date>-<time>"
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the metrics.json of an earlier run with the same --run_name",
    )
    g.add_argument(
        "--print_progress", type=_on_off, default=t.print_progress, metavar="{on,off}"
    )
    g.add_argument(
        "--verbose",
        action="store_true",
        help="keep library warnings and show TorchRec's, torch.distributed's and "
        "FBGEMM's own logs (stderr) and every rank's progress lines",
    )
    g.add_argument(
        "--log_every_n_steps",
        type=int,
        default=t.log_every_n_steps,
        help="every N steps: windowed train NE/AUC/calibration/CTR of all ranks "
        "(TorchRec's metrics) on the progress bar (a line with --print_progress off) "
        "and in TensorBoard, with loss, samples/s and learning rates",
    )
    g.add_argument(
        "--metrics_window_size",
        type=int,
        default=t.metrics_window_size,
        help="samples (all ranks) in the windowed train metrics",
    )
    g.add_argument(
        "--gauc_field",
        default=t.gauc_field,
        metavar="FIELD",
        help="a one-hot categorical field (e.g. a user id): valid and test also report "
        "the group AUC over its values (gauc, gauc_groups, gauc_rows)",
    )
    g.add_argument(
        "--tensorboard",
        type=_on_off,
        default=t.tensorboard,
        metavar="{on,off}",
        help="TensorBoard scalars (rank 0) in <output_dir>/<run_name>/tensorboard",
    )
    g.add_argument(
        "--profile",
        action="store_true",
        help="torch.profiler trace of steps 3-5 of each rank (Chrome trace, "
        "TensorBoard's profiler plugin) in <output_dir>/<run_name>/profile",
    )
    g.add_argument(
        "--gradient_norm_every",
        type=int,
        default=t.gradient_norm_every,
        help="record the gradient norm of each DLF stream and of the embeddings every N "
        "steps (0: off); written to metrics.json",
    )


def _add_checkpoint_flags(p: argparse.ArgumentParser, t: TrainConfig) -> None:
    g = p.add_argument_group("checkpoints")
    g.add_argument(
        "--checkpoint_dir",
        default=None,
        help="write DCP checkpoints here (and resume from the latest one, see --resume)",
    )
    g.add_argument(
        "--checkpoint_every_n_steps",
        type=int,
        default=None,
        help="checkpoint every N training steps (always at the end of each epoch)",
    )
    g.add_argument("--keep_last_checkpoints", type=int, default=t.keep_last_checkpoints)
    g.add_argument(
        "--resume",
        default=t.resume,
        help="auto: continue from the latest complete checkpoint in --checkpoint_dir if "
        "there is one; never; or the path of a step_* checkpoint",
    )
    g.add_argument(
        "--stop_after_steps",
        type=int,
        default=None,
        help="stop as if preempted after this many steps (with a checkpoint when "
        "--checkpoint_dir is set); the same command continues the run",
    )
