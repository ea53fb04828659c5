"""The models an experiment can name, as training flags (`python -m torchrec_dlf.train`)."""

from typing import Dict, List

# The models an experiment can name: train.py flags on top of the experiment's common ones.
MODELS: Dict[str, List[str]] = {
    "dlf": ["--interaction_type", "dlf"],
    "dlf_batchnorm": ["--interaction_type", "dlf", "--dlf_block_norm", "batch"],
    "dlf_no_low_order": ["--interaction_type", "dlf", "--dlf_low_order", "off"],
    "dlf_concat": ["--interaction_type", "dlf", "--dlf_fusion", "concat"],
    "dlf_no_gate": ["--interaction_type", "dlf", "--dlf_gate", "off"],
    "dlf_linear_gamma": [
        "--interaction_type",
        "dlf",
        "--dlf_implicit_activation",
        "off",
    ],
    "dot": ["--interaction_type", "dot"],
    "dcn": ["--interaction_type", "dcn"],
    "projection": ["--interaction_type", "projection"],
    "dcnv2": ["--interaction_type", "dcnv2"],
    "deepfm": ["--interaction_type", "deepfm"],
    "lr": ["--interaction_type", "lr"],
}
# Models whose DLF-specific flags from the experiment's "dlf" settings apply.
DLF_FAMILY = {m for m in MODELS if m.startswith("dlf")}
