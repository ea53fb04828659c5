"""Moved to `torchrec_dlf.models.interaction_arch` (this path stays for one release)."""

from torchrec_dlf.models.interaction_arch import DLFInteractionArch  # noqa: F401
