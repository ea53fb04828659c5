"""The model settings of a training job: `ModelConfig` (every flag that shapes the
model, DLF's generated from `DLFConfig`) and which settings each model reads."""

from dataclasses import asdict, dataclass, field, fields, make_dataclass
from typing import Any, Dict, List, Optional

from torchrec_dlf.modules.dlf_config import DLFConfig, DLFConfigError
from torchrec_dlf.user_errors import ConfigError

INTERACTION_TYPES = ("dot", "dcn", "projection", "dlf", "dcnv2", "deepfm", "logistic")
# Old names still accepted (for one release), and what they mean now.
DEPRECATED_INTERACTION_TYPES = {"lr": "logistic"}
# Models whose head may be a single linear layer (over_arch_layer_sizes [1]).
LINEAR_HEAD_TYPES = ("dlf", "dcnv2", "deepfm")
# Table initialisation: TorchRec's uniform(+-1/sqrt(rows)), or normal / uniform with a
# given standard deviation for every table (FuxiCTR: normal, std 1e-4).
EMBEDDING_INITS = ("torchrec", "normal", "uniform")
# `ModelConfig` holds every `DLFConfig` field under this prefix (flags and records).
DLF_PREFIX = "dlf_"

# The ModelConfig settings each interaction type reads (the others are ignored).
_COMMON_SETTINGS = ("interaction_type", "embedding_dim", "embedding_init")
_MLP_SETTINGS = ("dense_arch_layer_sizes", "over_arch_layer_sizes")
_TYPE_SETTINGS: Dict[str, tuple] = {
    "dot": _MLP_SETTINGS,
    "dcn": _MLP_SETTINGS + ("dcn_num_layers", "dcn_low_rank_dim"),
    "projection": _MLP_SETTINGS
    + ("interaction_branch1_layer_sizes", "interaction_branch2_layer_sizes"),
    "logistic": (),
    "dcnv2": _MLP_SETTINGS
    + ("dcnv2_cross_layers", "dcnv2_mlp_layer_sizes", "dcnv2_dropout"),
    "deepfm": _MLP_SETTINGS + ("deepfm_mlp_layer_sizes", "deepfm_dropout"),
    "dlf": _MLP_SETTINGS
    + tuple(DLF_PREFIX + name for name in DLFConfig.field_names())
    + ("dense_embedding",),
}


def canonical_interaction_type(name: str) -> str:
    """``name``, or what a deprecated name now means (``lr`` -> ``logistic``)."""
    return DEPRECATED_INTERACTION_TYPES.get(name, name)


def model_settings(interaction_type: str, embedding_init: str = "torchrec") -> tuple:
    """The `ModelConfig` fields a model of ``interaction_type`` uses."""
    std = () if embedding_init == "torchrec" else ("embedding_init_std",)
    return (
        _COMMON_SETTINGS
        + std
        + _TYPE_SETTINGS[canonical_interaction_type(interaction_type)]
    )


@dataclass
class ModelSettings:
    """
    Model hyperparameters shared by all interaction types (names follow TorchRec's
    dlrm_main where they overlap), without DLF's: `ModelConfig` adds one ``dlf_<name>``
    field per `DLFConfig` field. ``dense_arch_layer_sizes`` defaults to
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
    dense_embedding: str = "mlp"
    dcnv2_cross_layers: int = 3
    dcnv2_mlp_layer_sizes: List[int] = field(default_factory=lambda: [400, 400, 400])
    dcnv2_dropout: float = 0.0
    deepfm_mlp_layer_sizes: List[int] = field(default_factory=lambda: [400, 400, 400])
    deepfm_dropout: float = 0.0

    def __post_init__(self) -> None:
        self.interaction_type = canonical_interaction_type(self.interaction_type)

    def dlf_config(self) -> DLFConfig:
        """The DLF settings of this config (raises `ConfigError` naming the flag)."""
        try:
            return DLFConfig.from_prefixed(asdict(self), DLF_PREFIX)
        except DLFConfigError as e:
            raise ConfigError(f"--{DLF_PREFIX}{e}") from e

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
        self._validate_layer_sizes()
        self.dlf_config()

    def _validate_layer_sizes(self) -> None:
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


# Generated, so that a new DLF switch is a `DLFConfig` field only: the flat fields keep
# the command line, metrics.json and checkpoint records as they are (dlf_rank, ...).
ModelConfig = make_dataclass(
    "ModelConfig",
    [
        (DLF_PREFIX + f.name, f.type, field(default=f.default))
        for f in fields(DLFConfig)
    ],
    bases=(ModelSettings,),
    namespace={
        "__module__": __name__,
        "__doc__": "`ModelSettings` plus ``dlf_<name>`` for every `DLFConfig` field.",
    },
)
