"""torchrec_dlf: DLF (Dynamic Low-Order-Aware Fusion) for TorchRec."""

import importlib
from typing import Any, List

from torchrec_dlf.version import __version__  # noqa: F401

# The model classes are imported on first use, so that torch-free parts of the package
# (data preparation) start without loading torch and torchrec.
_LAZY = {
    "DLRM_DLF": "torchrec_dlf.models.dlrm_dlf",
    "DLFInteractionArch": "torchrec_dlf.models.interaction_arch",
    "DLFLayer": "torchrec_dlf.modules",
    "DLFConfig": "torchrec_dlf.modules.dlf_config",
}
__all__ = ["DLRM_DLF", "DLFConfig", "DLFInteractionArch", "DLFLayer", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'torchrec_dlf' has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))
