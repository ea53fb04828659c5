"""Input files: checked before any work starts, described (size, sha256) in the metadata."""

import hashlib
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Dict, Optional, Sequence

from torchrec_dlf.preprocessing.errors import PreparationError

CHECKSUMS = ("sha256", "none")
_READ_BYTES = 1 << 22


def check_input_file(path: str, what: str = "input file") -> None:
    """Raises `PreparationError` unless ``path`` is a readable, non-empty regular file."""
    if not os.path.exists(path):
        raise PreparationError(f"{path}: {what} does not exist")
    if not os.path.isfile(path):
        raise PreparationError(f"{path}: {what} is not a regular file")
    if os.path.getsize(path) == 0:
        raise PreparationError(f"{path}: {what} is empty")
    if not os.access(path, os.R_OK):
        raise PreparationError(f"{path}: {what} is not readable")


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_READ_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


class InputDescriptions:
    """
    Size and (optionally) sha256 of every input file. The checksums are computed in a
    background thread while the preparation runs (hashing releases the GIL), so hashing
    a large input overlaps the work instead of adding to it.

    Args:
        paths (Sequence[str]): input files.
        checksum (str): "sha256" or "none".
    """

    def __init__(self, paths: Sequence[str], checksum: str = "sha256") -> None:
        if checksum not in CHECKSUMS:
            raise PreparationError(
                f"checksum must be one of {CHECKSUMS}, got {checksum!r}"
            )
        self._paths = list(dict.fromkeys(paths))
        self._sizes = {p: os.path.getsize(p) for p in self._paths}
        self._executor: Optional[ThreadPoolExecutor] = None
        self._digests: Dict[str, Future] = {}
        if checksum == "sha256":
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="sha256")
            self._digests = {
                p: self._executor.submit(sha256_of, p) for p in self._paths
            }

    def sha256(self, path: str) -> Optional[str]:
        """The sha256 of one of the files (waits for it), or None without checksums."""
        return self._digests[path].result() if path in self._digests else None

    def describe(self, path: str) -> Dict[str, Any]:
        """Path, size and sha256 (None when skipped) of one of the files."""
        return {
            "path": os.path.abspath(path),
            "size": self._sizes[path],
            "sha256": self.sha256(path),
        }

    def close(self) -> None:
        if self._executor is not None:
            for f in self._digests.values():
                f.cancel()
            self._executor.shutdown(wait=True)
            self._executor = None
