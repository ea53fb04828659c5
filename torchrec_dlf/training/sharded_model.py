"""The model of a job, built and sharded the same way for training and for prediction."""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from torch import nn
from torchrec.distributed.types import ShardingPlan
from torchrec.models.dlrm import DLRMTrain

from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.embedding_regularization import (
    EMBEDDING_L2_MODES,
    fbgemm_decay_kwargs,
)
from torchrec_dlf.training.model_factory import (
    ModelConfig,
    build_train_model,
    count_parameters,
    table_pooling_factors,
)
from torchrec_dlf.training.optimizers import apply_embedding_optimizer
from torchrec_dlf.training.parallel import shard_model
from torchrec_dlf.training.sharding import (
    PlannerOptions,
    build_sharding_plan,
    replicated_table_names,
)
from torchrec_dlf.training.train_config import TrainConfig
from torchrec_dlf.user_errors import ConfigError

# Where the EmbeddingBagCollection sits inside the train module (DLRMTrain layout).
EBC_PATH = "model.sparse_arch.embedding_bag_collection"


@dataclass
class ShardedModel:
    """
    Args:
        model (nn.Module): the DistributedModelParallel-wrapped train module.
        unsharded (DLRMTrain): the train module it wraps (the same parameters).
        plan (ShardingPlan): where every table lives.
        replicated_tables (List[str]): tables sharded data_parallel.
        parameter_counts (Dict[str, int]): trainable parameters before sharding,
            ``non_embedding`` and ``embedding`` (the whole tables).
    """

    model: nn.Module
    unsharded: DLRMTrain
    plan: ShardingPlan
    replicated_tables: List[str]
    parameter_counts: Dict[str, int]


def build_sharded_model(
    model_config: ModelConfig,
    metadata: DatasetMetadata,
    ctx: DistributedContext,
    batch_size: int,
    sharding: str = "auto",
    planner_sharding_types: Optional[List[str]] = None,
    data_parallel_max_rows: int = 0,
    embedding_optimizer: str = "sgd",
    embedding_learning_rate: float = 0.0,
    fused_kwargs: Optional[Dict[str, Any]] = None,
    embedding_l2: float = 0.0,
    dense_precision: str = "fp32",
    planner_options: Optional[PlannerOptions] = None,
) -> ShardedModel:
    """
    The train module for ``model_config`` (tables on the meta device), its tables
    marked for FBGEMM's fused optimizer (prediction passes lr 0: the kernels are the
    training ones, nothing ever steps), a sharding plan for ``batch_size`` rows per
    rank (``planner_options``: what TorchRec's planner is told with ``"auto"``) and
    the DMP that materialises every shard where it lives.
    """
    train_model = build_train_model(
        model_config,
        metadata,
        ctx.device,
        embedding_l2=embedding_l2,
        dense_precision=dense_precision,
    )
    counts = {
        "non_embedding": count_parameters(train_model),
        "embedding": count_parameters(train_model, embeddings=True),
    }
    ebc = train_model.model.sparse_arch.embedding_bag_collection
    tables = ebc.embedding_bag_configs()
    replicated = replicated_table_names(tables, sharding, data_parallel_max_rows)
    apply_embedding_optimizer(
        train_model.model.sparse_arch,
        embedding_optimizer,
        embedding_learning_rate,
        ctx.device,
        has_fused_tables=len(replicated) < len(tables),
        fused_kwargs=fused_kwargs,
    )
    plan = build_sharding_plan(
        train_model,
        EBC_PATH,
        ctx,
        sharding,
        batch_size,
        planner_sharding_types,
        data_parallel_max_rows,
        pooling_factors=table_pooling_factors(metadata),
        planner_options=planner_options,
    )
    model = shard_model(train_model, plan, ctx.device)
    return ShardedModel(model, train_model, plan, replicated, counts)


def build_training_model(
    model_config: ModelConfig,
    config: TrainConfig,
    metadata: DatasetMetadata,
    ctx: DistributedContext,
) -> ShardedModel:
    """`build_sharded_model` with a training job's settings: its tables' optimizer
    (with FBGEMM's own decay when ``config.fused_decay_in_kernel``), sharding (the
    planner's ``planner_*`` settings, its stats table printed with
    ``print_sharding_plan``) and the train module's L2 penalty and dense precision."""
    if config.embedding_l2_mode not in EMBEDDING_L2_MODES:
        raise ConfigError(
            f"embedding_l2_mode must be one of {EMBEDDING_L2_MODES}, got "
            f"{config.embedding_l2_mode!r}"
        )
    fused_kwargs = None
    if config.fused_decay_in_kernel:
        fused_kwargs = fbgemm_decay_kwargs(
            config.embedding_l2_mode,
            config.embedding_l2,
            config.embedding_optimizer,
            ctx.device,
        )
    sharded = build_sharded_model(
        model_config,
        metadata,
        ctx,
        config.batch_size,
        sharding=config.sharding,
        planner_sharding_types=config.planner_sharding_types,
        data_parallel_max_rows=config.data_parallel_max_rows,
        embedding_optimizer=config.embedding_optimizer,
        embedding_learning_rate=config.embedding_learning_rate,
        fused_kwargs=fused_kwargs,
        embedding_l2=config.lookup_embedding_l2,
        dense_precision=config.dense_precision,
        planner_options=PlannerOptions.from_settings(vars(config)),
    )
    if config.compile_interaction:
        compile_interaction_arch(sharded.unsharded)
    return sharded


def compile_interaction_arch(train_model: nn.Module) -> None:
    """
    Compiles the dense interaction arch in place (`nn.Module.compile`: parameter names,
    checkpoints and the module tree stay as they are). Only that arch: the sparse arch
    consumes KJTs and runs TorchRec's sharded lookup inside the pipeline, which stays
    eager. Inference and export build their own, uncompiled model.
    """
    train_model.model.inter_arch.compile()
