"""Host memory allocation of training and benchmark processes: keep freed memory for
reuse instead of returning it to the kernel after every large tensor."""

import ctypes
import ctypes.util
import os
from typing import Optional

from torchrec_dlf.user_errors import ConfigError

# Opt-out: TORCHREC_DLF_HOST_ALLOCATOR=system leaves the C library's settings alone.
ENV_VAR = "TORCHREC_DLF_HOST_ALLOCATOR"
_MODES = ("keep", "system")

# glibc mallopt(3) parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# mallopt(3): -1 disables trimming (freed memory at the top of the heap is kept).
_NEVER_TRIM = -1

_applied: Optional[bool] = None


def _glibc() -> Optional[ctypes.CDLL]:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        # Only glibc has these mallopt parameters (musl's mallopt is a no-op).
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
        return libc
    except (OSError, AttributeError):
        return None


def keep_freed_host_memory() -> bool:
    """
    Makes the C library's allocator keep freed host memory for reuse (glibc:
    ``M_MMAP_MAX = 0``, no trimming: ``M_TRIM_THRESHOLD = -1``), once per process.

    Why: glibc serves every allocation above its mmap threshold (32 MiB at most) with a
    fresh ``mmap`` and unmaps it on free, so each new large tensor costs a page fault
    per 4 KiB page (the kernel zeroes them). A DLF training step allocates and frees
    hundreds of B x tokens x D activations of tens of MB; with the default allocator a
    53 MB copy took 20 ms instead of 2.4 ms, and a whole dense step of the default DLF
    ran ~1.4x slower (the reference structure, made of fewer and larger products,
    ~1.05x). The price: the process keeps its peak host memory until it exits, as
    jemalloc or tcmalloc would.

    ``TORCHREC_DLF_HOST_ALLOCATOR=system`` leaves the allocator as it is.

    Returns:
        bool: whether the settings are in effect (False with the opt-out, or on a C
        library other than glibc).
    """
    global _applied
    if _applied is not None:
        return _applied
    mode = os.environ.get(ENV_VAR, "keep")
    if mode not in _MODES:
        raise ConfigError(f"{ENV_VAR} must be one of {_MODES}, got {mode!r}")
    libc = _glibc() if mode == "keep" else None
    _applied = bool(
        libc is not None
        and libc.mallopt(_M_MMAP_MAX, 0) == 1
        and libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM) == 1
    )
    return _applied


def host_allocator_mode() -> str:
    """What benchmark and run records say: "keep" once `keep_freed_host_memory` is in
    effect, "system" otherwise."""
    return "keep" if _applied else "system"
