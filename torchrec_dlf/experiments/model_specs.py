"""The models an experiment can name, as training flags (`python -m torchrec_dlf.train`)."""

from typing import Any, Dict, List

from torchrec_dlf.modules.dlf_config import DLFConfig

# DLF and its ablations: the DLFConfig fields each one changes (flags generated from it).
DLF_VARIANTS: Dict[str, Dict[str, Any]] = {
    "dlf": {},
    "dlf_batchnorm": {"block_norm": "batch"},
    "dlf_no_low_order": {"low_order": False},
    "dlf_concat": {"fusion": "concat"},
    "dlf_no_gate": {"gate": False},
    "dlf_linear_gamma": {"implicit_activation": False},
    "dlf_no_stream_tags": {"stream_tags": False},
}
# The models an experiment can name: train flags on top of the experiment's common ones.
MODELS: Dict[str, List[str]] = {
    **{
        name: ["--interaction_type", "dlf"] + DLFConfig(**changes).to_flags()
        for name, changes in DLF_VARIANTS.items()
    },
    "dot": ["--interaction_type", "dot"],
    "dcn": ["--interaction_type", "dcn"],
    "projection": ["--interaction_type", "projection"],
    "dcnv2": ["--interaction_type", "dcnv2"],
    "deepfm": ["--interaction_type", "deepfm"],
    "logistic": ["--interaction_type", "logistic"],
    # the old name of the first-order model, kept so existing specs still run
    "lr": ["--interaction_type", "logistic"],
}
# Models whose DLF-specific flags from the experiment's "dlf" settings apply.
DLF_FAMILY = set(DLF_VARIANTS)
