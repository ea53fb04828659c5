"""Silences library messages that are expected in this job and say nothing to its user."""

import logging
import warnings

# The loggers whose messages this job hides (and ``--verbose`` shows, see
# `job_logging.configure_logging`).
LIBRARY_LOGGERS = ("torchrec", "torch.fx", "torch.distributed", "fbgemm_gpu", "root")


def quiet_library_messages() -> None:
    """
    Hides known, benign warnings of torch/torchrec/fbgemm (deprecations inside torchrec,
    planner notes about dry runs, fx-tracing notes from the train pipeline). Errors and
    everything this project prints are unaffected. ``--verbose`` skips this.
    """
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=r"torchrec(\.|$)")
        warnings.filterwarnings("ignore", category=category, module=r"torch(\.|$)")
    warnings.filterwarnings(
        "ignore",
        message=r".*an autograd kernel was not registered.*",
        category=UserWarning,
    )
    warnings.filterwarnings("ignore", message=r".*Initializing zero-element tensors.*")
    # shard_model re-enables DDP's buffer sync, which torchrec turns off by the old name.
    warnings.filterwarnings(
        "ignore", message=r".*Both `broadcast_buffers` and `forward_sync_buffers`.*"
    )
    for name in LIBRARY_LOGGERS:
        logging.getLogger(None if name == "root" else name).setLevel(logging.ERROR)
