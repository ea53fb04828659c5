"""Builds DLRM_DLF or one of TorchRec's DLRM baselines for a prepared dataset."""

import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Dict, List

import torch
from torch import nn
from torchrec.models.dlrm import DLRM, DLRM_DCN, DLRM_Projection, DLRMTrain
from torchrec.modules.embedding_configs import EmbeddingBagConfig, PoolingType
from torchrec.modules.embedding_modules import EmbeddingBagCollection

from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.models.dlrm_dcnv2 import DLRM_DCNv2
from torchrec_dlf.models.dlrm_deepfm import DLRM_DeepFM
from torchrec_dlf.models.dlrm_dlf import DLRM_DLF
from torchrec_dlf.models.first_order import DLRM_FirstOrder
from torchrec_dlf.training.model_config import (  # noqa: F401 (re-exported)
    DEPRECATED_INTERACTION_TYPES,
    DLF_PREFIX,
    EMBEDDING_INITS,
    INTERACTION_TYPES,
    LINEAR_HEAD_TYPES,
    ModelConfig,
    ModelSettings,
    canonical_interaction_type,
    model_settings,
)
from torchrec_dlf.training.train_module import DLRMTrainModule


def table_init_kwargs(init: str, std: float) -> Dict[str, Any]:
    """
    `EmbeddingBagConfig` arguments for ``init``: nothing for TorchRec's default, an
    ``init_fn`` for normal(0, std), and the bounds +-std*sqrt(3) for uniform (both the
    unsharded tables and FBGEMM's sharded ones honour them).
    """
    if init == "torchrec":
        return {}
    if init == "normal":
        return {"init_fn": partial(nn.init.normal_, mean=0.0, std=std)}
    bound = std * math.sqrt(3.0)
    return {"weight_init_min": -bound, "weight_init_max": bound}


_POOLINGS = {"sum": PoolingType.SUM, "mean": PoolingType.MEAN}


def embedding_bag_configs(
    metadata: DatasetMetadata,
    embedding_dim: int,
    init: str = "torchrec",
    init_std: float = 1e-4,
) -> List[EmbeddingBagConfig]:
    """
    One table per categorical field, sized by the dataset's vocabulary and pooling a
    multi-hot field's bag as its metadata says ("sum" or "mean"; a one-hot field's
    single id pools to itself either way, TorchRec's default SUM).
    """
    return [
        EmbeddingBagConfig(
            name=f"t_{name}",
            embedding_dim=embedding_dim,
            num_embeddings=metadata.vocab_sizes[name],
            feature_names=[name],
            pooling=_POOLINGS[metadata.pooling(name)],
            **table_init_kwargs(init, init_std),
        )
        for name in metadata.categorical
    ]


def table_pooling_factors(metadata: DatasetMetadata) -> Dict[str, float]:
    """Mean ids per sample of each table of `embedding_bag_configs` (the planner's
    pooling factors; 1 for a one-hot field)."""
    return {f"t_{name}": metadata.pooling_factor(name) for name in metadata.categorical}


@dataclass(frozen=True)
class _DenseSizes:
    """What every model builder takes besides its own settings."""

    dense_in: int
    dense_sizes: List[int]
    over_sizes: List[int]
    device: torch.device


def _dlrm(config: ModelConfig, ebc: EmbeddingBagCollection, d: _DenseSizes) -> DLRM:
    return DLRM(ebc, d.dense_in, d.dense_sizes, d.over_sizes, d.device)


def _dcn(config: ModelConfig, ebc: EmbeddingBagCollection, d: _DenseSizes) -> DLRM:
    return DLRM_DCN(
        ebc,
        d.dense_in,
        d.dense_sizes,
        d.over_sizes,
        config.dcn_num_layers,
        config.dcn_low_rank_dim,
        d.device,
    )


def _projection(
    config: ModelConfig, ebc: EmbeddingBagCollection, d: _DenseSizes
) -> DLRM:
    return DLRM_Projection(
        ebc,
        d.dense_in,
        d.dense_sizes,
        d.over_sizes,
        config.interaction_branch1_layer_sizes,
        config.interaction_branch2_layer_sizes,
        d.device,
    )


def _logistic(config: ModelConfig, ebc: EmbeddingBagCollection, d: _DenseSizes) -> DLRM:
    return DLRM_FirstOrder(ebc, d.dense_in, d.device)


def _dcnv2(config: ModelConfig, ebc: EmbeddingBagCollection, d: _DenseSizes) -> DLRM:
    return DLRM_DCNv2(
        ebc,
        d.dense_in,
        d.dense_sizes,
        d.over_sizes,
        config.dcnv2_cross_layers,
        config.dcnv2_mlp_layer_sizes,
        config.dcnv2_dropout,
        d.device,
    )


def _deepfm(config: ModelConfig, ebc: EmbeddingBagCollection, d: _DenseSizes) -> DLRM:
    return DLRM_DeepFM(
        ebc,
        d.dense_in,
        d.dense_sizes,
        d.over_sizes,
        config.deepfm_mlp_layer_sizes,
        config.deepfm_dropout,
        d.device,
    )


def _dlf(config: ModelConfig, ebc: EmbeddingBagCollection, d: _DenseSizes) -> DLRM:
    return DLRM_DLF(
        ebc,
        d.dense_in,
        d.dense_sizes,
        d.over_sizes,
        dlf_config=config.dlf_config(),
        dense_embedding=config.dense_embedding,
        dense_device=d.device,
    )


_BUILDERS: Dict[str, Callable[[Any, EmbeddingBagCollection, _DenseSizes], DLRM]] = {
    "dot": _dlrm,
    "dcn": _dcn,
    "projection": _projection,
    "logistic": _logistic,
    "dcnv2": _dcnv2,
    "deepfm": _deepfm,
    "dlf": _dlf,
}


def build_dlrm(
    config: ModelConfig,
    metadata: DatasetMetadata,
    dense_device: torch.device,
    ebc_device: torch.device = torch.device("meta"),
) -> DLRM:
    """
    The model for ``config.interaction_type``. The EBC is built on ``ebc_device`` (meta
    by default: DistributedModelParallel materialises the shards where they live).
    """
    config.validate()
    ebc = EmbeddingBagCollection(
        tables=embedding_bag_configs(
            metadata,
            config.embedding_dim,
            config.embedding_init,
            config.embedding_init_std,
        ),
        is_weighted=metadata.weighted,  # the batches carry per-id weights
        device=ebc_device,
    )
    sizes = _DenseSizes(
        dense_in=len(metadata.numeric),
        dense_sizes=config.resolved_dense_arch_layer_sizes(),
        over_sizes=list(config.over_arch_layer_sizes),
        device=dense_device,
    )
    return _BUILDERS[config.interaction_type](config, ebc, sizes)


def build_train_model(
    config: ModelConfig,
    metadata: DatasetMetadata,
    dense_device: torch.device,
    ebc_device: torch.device = torch.device("meta"),
    embedding_l2: float = 0.0,
    dense_precision: str = "fp32",
) -> DLRMTrain:
    """The model wrapped with its loss, embedding penalty and dense precision."""
    return DLRMTrainModule(
        build_dlrm(config, metadata, dense_device, ebc_device),
        embedding_l2=embedding_l2,
        dense_precision=dense_precision,
        device_type=dense_device.type,
    )


def count_parameters(model: nn.Module, embeddings: bool = False) -> int:
    """Trainable parameters, without (default) or only of the embedding tables."""
    total = 0
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if ("embedding_bag_collection" in name) == embeddings:
            total += p.numel()
    return total
