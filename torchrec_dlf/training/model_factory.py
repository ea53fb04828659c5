"""Builds DLRM_DLF or one of TorchRec's DLRM baselines for a prepared dataset."""

import math
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, Dict, List, Optional

import torch
from torch import nn
from torchrec.models.dlrm import DLRM, DLRM_DCN, DLRM_Projection, DLRMTrain
from torchrec.modules.embedding_configs import EmbeddingBagConfig
from torchrec.modules.embedding_modules import EmbeddingBagCollection

from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.dlrm_dcnv2 import DLRM_DCNv2
from torchrec_dlf.dlrm_deepfm import DLRM_DeepFM
from torchrec_dlf.dlrm_dlf import DLRM_DLF
from torchrec_dlf.first_order import DLRM_FirstOrder
from torchrec_dlf.training.train_module import DLRMTrainModule
from torchrec_dlf.user_errors import ConfigError

INTERACTION_TYPES = ("dot", "dcn", "projection", "dlf", "dcnv2", "deepfm", "lr")
# Models whose head may be a single linear layer (over_arch_layer_sizes [1]).
LINEAR_HEAD_TYPES = ("dlf", "dcnv2", "deepfm")
# Table initialisation: TorchRec's uniform(+-1/sqrt(rows)), or normal / uniform with a
# given standard deviation for every table (FuxiCTR: normal, std 1e-4).
EMBEDDING_INITS = ("torchrec", "normal", "uniform")

# The ModelConfig settings each interaction type reads (the others are ignored).
_COMMON_SETTINGS = ("interaction_type", "embedding_dim", "embedding_init")
_MLP_SETTINGS = ("dense_arch_layer_sizes", "over_arch_layer_sizes")
_TYPE_SETTINGS: Dict[str, tuple] = {
    "dot": _MLP_SETTINGS,
    "dcn": _MLP_SETTINGS + ("dcn_num_layers", "dcn_low_rank_dim"),
    "projection": _MLP_SETTINGS
    + ("interaction_branch1_layer_sizes", "interaction_branch2_layer_sizes"),
    "lr": (),
    "dcnv2": _MLP_SETTINGS
    + ("dcnv2_cross_layers", "dcnv2_mlp_layer_sizes", "dcnv2_dropout"),
    "deepfm": _MLP_SETTINGS + ("deepfm_mlp_layer_sizes", "deepfm_dropout"),
    "dlf": _MLP_SETTINGS
    + (
        "dlf_num_layers",
        "dlf_tokens_per_block",
        "dlf_rank",
        "dlf_block_mlp_width",
        "dlf_num_heads",
        "dlf_dropout",
        "dlf_low_order",
        "dlf_fusion",
        "dlf_gate",
        "dlf_implicit_activation",
        "dlf_block_norm",
        "dlf_branch_scale",
        "dlf_scale_output",
        "dense_embedding",
    ),
}


def model_settings(interaction_type: str, embedding_init: str = "torchrec") -> tuple:
    """The `ModelConfig` fields a model of ``interaction_type`` uses."""
    std = () if embedding_init == "torchrec" else ("embedding_init_std",)
    return _COMMON_SETTINGS + std + _TYPE_SETTINGS[interaction_type]


@dataclass
class ModelConfig:
    """
    Model hyperparameters shared by all interaction types (names follow TorchRec's
    dlrm_main where they overlap). ``dense_arch_layer_sizes`` defaults to
    ``[256, embedding_dim]``.
    """

    interaction_type: str = "dlf"
    embedding_dim: int = 16
    embedding_init: str = "torchrec"
    embedding_init_std: float = 1e-4
    dense_arch_layer_sizes: Optional[List[int]] = None
    over_arch_layer_sizes: List[int] = field(default_factory=lambda: [512, 256, 1])
    dcn_num_layers: int = 3
    dcn_low_rank_dim: int = 64
    interaction_branch1_layer_sizes: List[int] = field(
        default_factory=lambda: [256, 128]
    )
    interaction_branch2_layer_sizes: List[int] = field(
        default_factory=lambda: [256, 128]
    )
    dlf_num_layers: int = 3
    dlf_tokens_per_block: int = 16
    dlf_rank: int = 24
    dlf_block_mlp_width: int = 512
    dlf_num_heads: int = 2
    dlf_dropout: float = 0.0
    dlf_low_order: bool = True
    dlf_fusion: str = "attention"
    dlf_gate: bool = True
    dlf_implicit_activation: bool = True
    dlf_block_norm: str = "layer"
    dlf_branch_scale: bool = True
    dlf_scale_output: bool = True
    dense_embedding: str = "mlp"
    dcnv2_cross_layers: int = 3
    dcnv2_mlp_layer_sizes: List[int] = field(default_factory=lambda: [400, 400, 400])
    dcnv2_dropout: float = 0.0
    deepfm_mlp_layer_sizes: List[int] = field(default_factory=lambda: [400, 400, 400])
    deepfm_dropout: float = 0.0

    def used_settings(self) -> Dict[str, Any]:
        """The settings this model uses (what a run's record needs)."""
        values = asdict(self)
        return {
            n: values[n]
            for n in model_settings(self.interaction_type, self.embedding_init)
        }

    def resolved_dense_arch_layer_sizes(self) -> List[int]:
        if self.dense_arch_layer_sizes is None:
            return [256, self.embedding_dim]
        return list(self.dense_arch_layer_sizes)

    def validate(self) -> None:
        if self.interaction_type not in INTERACTION_TYPES:
            raise ConfigError(
                f"interaction_type must be one of {INTERACTION_TYPES}, "
                f"got {self.interaction_type!r}"
            )
        if self.embedding_init not in EMBEDDING_INITS:
            raise ConfigError(
                f"embedding_init must be one of {EMBEDDING_INITS}, got {self.embedding_init!r}"
            )
        if self.embedding_init != "torchrec" and not self.embedding_init_std > 0:
            raise ConfigError(
                f"embedding_init_std must be > 0, got {self.embedding_init_std}"
            )
        if self.embedding_dim % 4 != 0:
            raise ConfigError(
                f"embedding_dim must be a multiple of 4 for FBGEMM's fused kernels, "
                f"got {self.embedding_dim}"
            )
        dense = self.resolved_dense_arch_layer_sizes()
        if dense[-1] != self.embedding_dim:
            raise ConfigError(
                f"dense_arch_layer_sizes must end with embedding_dim "
                f"({self.embedding_dim}), got {dense}"
            )
        if self.over_arch_layer_sizes[-1] != 1:
            raise ConfigError(
                f"over_arch_layer_sizes must end with 1 (one logit), got "
                f"{self.over_arch_layer_sizes}"
            )
        if (
            len(self.over_arch_layer_sizes) == 1
            and self.interaction_type not in LINEAR_HEAD_TYPES
        ):
            raise ConfigError(
                f"over_arch_layer_sizes [1] (a linear head) is for {LINEAR_HEAD_TYPES}; "
                f"TorchRec's {self.interaction_type} model needs a hidden layer"
            )


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


def embedding_bag_configs(
    metadata: DatasetMetadata,
    embedding_dim: int,
    init: str = "torchrec",
    init_std: float = 1e-4,
) -> List[EmbeddingBagConfig]:
    """One table per categorical field, sized by the dataset's vocabulary."""
    return [
        EmbeddingBagConfig(
            name=f"t_{name}",
            embedding_dim=embedding_dim,
            num_embeddings=metadata.vocab_sizes[name],
            feature_names=[name],
            **table_init_kwargs(init, init_std),
        )
        for name in metadata.categorical
    ]


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
        device=ebc_device,
    )
    dense_in = len(metadata.numeric)
    dense_sizes = config.resolved_dense_arch_layer_sizes()
    over_sizes = list(config.over_arch_layer_sizes)
    kind = config.interaction_type
    if kind == "dot":
        return DLRM(ebc, dense_in, dense_sizes, over_sizes, dense_device)
    if kind == "dcn":
        return DLRM_DCN(
            ebc,
            dense_in,
            dense_sizes,
            over_sizes,
            config.dcn_num_layers,
            config.dcn_low_rank_dim,
            dense_device,
        )
    if kind == "projection":
        return DLRM_Projection(
            ebc,
            dense_in,
            dense_sizes,
            over_sizes,
            config.interaction_branch1_layer_sizes,
            config.interaction_branch2_layer_sizes,
            dense_device,
        )
    if kind == "lr":
        return DLRM_FirstOrder(ebc, dense_in, dense_device)
    if kind == "dcnv2":
        return DLRM_DCNv2(
            ebc,
            dense_in,
            dense_sizes,
            over_sizes,
            config.dcnv2_cross_layers,
            config.dcnv2_mlp_layer_sizes,
            config.dcnv2_dropout,
            dense_device,
        )
    if kind == "deepfm":
        return DLRM_DeepFM(
            ebc,
            dense_in,
            dense_sizes,
            over_sizes,
            config.deepfm_mlp_layer_sizes,
            config.deepfm_dropout,
            dense_device,
        )
    return DLRM_DLF(
        ebc,
        dense_in,
        dense_sizes,
        over_sizes,
        dlf_num_layers=config.dlf_num_layers,
        dlf_tokens_per_block=config.dlf_tokens_per_block,
        dlf_rank=config.dlf_rank,
        dlf_block_mlp_width=config.dlf_block_mlp_width,
        dlf_num_heads=config.dlf_num_heads,
        dlf_dropout=config.dlf_dropout,
        dlf_low_order=config.dlf_low_order,
        dlf_fusion=config.dlf_fusion,
        dlf_gate=config.dlf_gate,
        dlf_implicit_activation=config.dlf_implicit_activation,
        dlf_block_norm=config.dlf_block_norm,
        dlf_branch_scale=config.dlf_branch_scale,
        dlf_scale_output=config.dlf_scale_output,
        dense_embedding=config.dense_embedding,
        dense_device=dense_device,
    )


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
