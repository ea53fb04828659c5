"""The switches and sizes of a DLF interaction stack, in one frozen config."""

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from torchrec_dlf.modules.block_mlp import BLOCK_NORMS

# Fusion of the streams: NAF attention, or the released code's concatenation.
FUSION_TYPES = ("attention", "concat")


def _switch(
    default: Any,
    help: str,
    choices: Optional[Tuple[str, ...]] = None,
    at_least: Optional[float] = None,
    below: Optional[float] = None,
) -> Any:
    # The metadata is what the command line and the checks are generated from.
    return field(
        default=default,
        metadata={
            "help": help,
            "choices": choices,
            "at_least": at_least,
            "below": below,
        },
    )


@dataclass(frozen=True)
class DLFConfig:
    """
    Every DLF setting, with its default (the product's; the released layer is
    ``DLFConfig.released()``). Taken whole by `DLFLayer`, `DLFInteractionArch` and
    `DLRM_DLF` (which also accept the fields as keyword arguments, TorchRec style); the
    training command line has one ``--dlf_<field>`` flag per field, generated from the
    metadata here, and experiment specs write a config as flags with `to_flags`.

    A new switch is one field here (default, help, choices or bounds), the module that
    reads it (from the config it is handed), and that module's test.
    """

    num_layers: int = _switch(3, "stacked DLF layers (L)", at_least=1)
    tokens_per_block: int = _switch(
        16, "tokens produced by each stream per layer", at_least=1
    )
    rank: int = _switch(24, "rank R of the factorised (alpha, beta) blocks", at_least=1)
    block_mlp_width: int = _switch(512, "hidden width of the block MLPs", at_least=1)
    num_heads: int = _switch(2, "NAF attention heads (must divide D)", at_least=1)
    dropout: float = _switch(
        0.0, "dropout in the block MLPs and NAF attention", at_least=0.0, below=1.0
    )
    low_order: bool = _switch(
        True, "keep the alpha stream (re-injects the layer-1 tokens at every depth)"
    )
    fusion: str = _switch(
        "attention",
        "attention (NAF) or concat (the released code's concatenation)",
        choices=FUSION_TYPES,
    )
    gate: bool = _switch(True, "gate the residual path (off: plain residual)")
    implicit_activation: bool = _switch(
        True, "bias + ReLU in the implicit (gamma) stream (off: linear token mixing)"
    )
    block_norm: str = _switch(
        "layer",
        "block MLP normalisation: layer (no running statistics, any batch size) or "
        "batch (the released code's BatchNorm)",
        choices=BLOCK_NORMS,
    )
    branch_scale: bool = _switch(
        True,
        "streams enter each layer through a learned scalar initialised at 0 "
        "(ReZero); off: the released code's plain sum",
    )
    scale_output: bool = _switch(
        True,
        "scale the flattened DLF output to unit norm per sample before the over arch",
    )
    stream_tags: bool = _switch(
        True,
        "NAF keys carry a learned tag of the stream each token came from (what makes "
        "the fusion network-aware); off: attention sees the token values only",
    )
    fused_attention: bool = _switch(
        True,
        "compute NAF for all streams and heads as one fused operation (the same "
        "function of the same parameters); off: one attention call per stream",
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            problem = _check(f, getattr(self, f.name))
            if problem:
                raise DLFConfigError(f.name, problem)

    @classmethod
    def released(cls) -> "DLFConfig":
        """The layer of the authors' released code (concat fusion, no gate, linear
        gamma, BatchNorm blocks, plain sum, unscaled output)."""
        return cls(
            fusion="concat",
            gate=False,
            implicit_activation=False,
            block_norm="batch",
            branch_scale=False,
            scale_output=False,
        )

    @classmethod
    def with_switches(
        cls, config: Optional["DLFConfig"] = None, **switches: Any
    ) -> "DLFConfig":
        """``config`` (default: the defaults) with the named fields replaced."""
        unknown = sorted(set(switches) - set(cls.field_names()))
        if unknown:
            raise TypeError(
                f"unknown DLF settings {unknown}; known: {list(cls.field_names())}"
            )
        return dataclasses.replace(config or cls(), **switches)

    @classmethod
    def field_names(cls) -> Tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_prefixed(cls, values: Mapping[str, Any], prefix: str) -> "DLFConfig":
        """The config from ``{prefix + field: value}`` entries (others are ignored)."""
        return cls(
            **{
                name: values[prefix + name]
                for name in cls.field_names()
                if prefix + name in values
            }
        )

    def prefixed(self, prefix: str) -> Dict[str, Any]:
        """``{prefix + field: value}`` for every field."""
        return {
            prefix + f.name: getattr(self, f.name) for f in dataclasses.fields(self)
        }

    def to_flags(self, prefix: str = "--dlf_") -> List[str]:
        """Command-line flags for the fields that differ from the defaults."""
        flags: List[str] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value != f.default:
                flags += [prefix + f.name, format_value(value)]
        return flags


class DLFConfigError(ValueError):
    """A DLF setting outside its allowed values; ``setting`` names the field."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting} {problem}")
        self.setting = setting
        self.problem = problem


def format_value(value: Any) -> str:
    """A field value as written on the command line (booleans as on/off)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _check(f: "dataclasses.Field[Any]", value: Any) -> Optional[str]:
    meta = f.metadata
    if isinstance(f.default, bool):
        return None if isinstance(value, bool) else f"must be a bool, got {value!r}"
    if meta["choices"] is not None and value not in meta["choices"]:
        return f"must be one of {meta['choices']}, got {value!r}"
    low, high = meta["at_least"], meta["below"]
    if high is not None and not low <= value < high:
        return f"must be in [{low:g}, {high:g}), got {value}"
    if low is not None and value < low:
        return f"must be >= {low}, got {value}"
    return None
