"""torchrec_dlf: DLF (Dynamic Low-Order-Aware Fusion) for TorchRec."""

from torchrec_dlf.dlrm_dlf import DLRM_DLF  # noqa: F401
from torchrec_dlf.interaction_arch import DLFInteractionArch  # noqa: F401
from torchrec_dlf.modules import DLFLayer  # noqa: F401
from torchrec_dlf.version import __version__  # noqa: F401
