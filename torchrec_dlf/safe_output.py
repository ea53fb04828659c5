"""One rule for every command that writes (prepare, train, checkpoints, predict, export).

* Check before work starts: an existing output that this command did not write (a
  non-empty directory without its marker, or a file of another kind) is refused unless
  the user passed ``--overwrite``; so is an output that is, or holds, one of the inputs.
* Write into a hidden temporary sibling, ``.<name>.tmp-<host>-<pid>-<hex>``, and rename
  it into place only when complete; the previous output is moved aside first and
  removed only after the new one is in place.
* Clean up: a failure removes the temporary; a run killed before it could (SIGKILL,
  power loss) leaves one whose process no longer exists, and the next run on the same
  host removes it (`remove_stale_siblings`).
"""

import errno
import os
import shutil
import socket
import uuid
from typing import Callable, Iterable, List, Optional

from torchrec_dlf.user_errors import OutputError

# Kinds of hidden siblings this project writes next to an output.
_TEMP_KINDS = ("tmp", "old", "spill")


def _host() -> str:
    return socket.gethostname().replace(".", "_").replace("-", "_") or "host"


def temp_sibling(path: str, kind: str = "tmp", suffix: str = "") -> str:
    """A fresh hidden path beside ``path`` that names this host and process."""
    if kind not in _TEMP_KINDS:
        raise ValueError(f"kind must be one of {_TEMP_KINDS}, got {kind!r}")
    path = os.path.abspath(path)
    parent, name = os.path.split(path.rstrip(os.sep))
    token = f"{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return os.path.join(parent, f".{name}.{kind}-{token}{suffix}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_siblings(path: str) -> List[str]:
    """
    Removes the temporaries beside ``path`` left by processes of this host that no
    longer run (killed while writing); returns what it removed. Temporaries of live
    processes and of other hosts (a shared file system) are left alone.
    """
    path = os.path.abspath(path)
    parent, name = os.path.split(path.rstrip(os.sep))
    if not os.path.isdir(parent):
        return []
    removed = []
    host = _host()
    for entry in os.listdir(parent):
        for kind in _TEMP_KINDS:
            prefix = f".{name}.{kind}-"
            if not entry.startswith(prefix):
                continue
            parts = entry[len(prefix) :].split("-")
            if len(parts) < 3 or parts[0] != host or not parts[1].isdigit():
                continue
            if _pid_alive(int(parts[1])):
                continue
            target = os.path.join(parent, entry)
            discard(target)
            removed.append(target)
    return removed


def _nearest_existing(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _inside(path: str, container: str) -> bool:
    path, container = os.path.realpath(path), os.path.realpath(container)
    return path == container or path.startswith(container.rstrip(os.sep) + os.sep)


def check_output(
    path: str,
    flag: str,
    kind: str = "dir",
    owned: Optional[Callable[[str], bool]] = None,
    overwrite: bool = False,
    inputs: Iterable[str] = (),
) -> None:
    """
    Refuses an output location before any work: ``kind`` "dir" or "file"; ``owned``
    tells whether an existing one was written by this command (then it may be
    replaced); ``inputs`` are paths the command reads, which the output must neither be
    nor contain. Raises `OutputError` naming ``flag`` and the path.
    """
    if kind not in ("dir", "file"):
        raise ValueError(f"kind must be 'dir' or 'file', got {kind!r}")
    where = f"{flag} {path}"
    for source in inputs:
        if _inside(source, path):
            raise OutputError(f"{where}: the output would replace the input {source}")
    if os.path.lexists(path):
        if kind == "dir":
            if not os.path.isdir(path):
                raise OutputError(f"{where}: exists and is not a directory")
            if os.listdir(path) and not overwrite and not (owned and owned(path)):
                raise OutputError(
                    f"{where}: a non-empty directory this command did not write; "
                    f"refusing to replace it (choose another path or pass --overwrite)"
                )
        else:
            if os.path.isdir(path):
                raise OutputError(f"{where}: is a directory, expected a file path")
            if not overwrite and not (owned and owned(path)):
                raise OutputError(
                    f"{where}: a file this command did not write; refusing to replace it "
                    f"(choose another path or pass --overwrite)"
                )
    parent = os.path.dirname(os.path.abspath(path).rstrip(os.sep))
    existing = _nearest_existing(parent)
    if not os.path.isdir(existing):
        raise OutputError(f"{where}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{where}: {existing} is not writable")


def check_writable_directory(path: str, flag: str, probe: bool = True) -> None:
    """
    Refuses a directory output that cannot be created or written: ``path`` is a file,
    or (``probe``) creating it and a file in it fails. Whatever the probe creates is
    removed again, so a refused or later failing run leaves nothing behind.
    """
    if os.path.lexists(path) and not os.path.isdir(path):
        raise OutputError(f"{flag} {path}: exists and is not a directory")
    existing = _nearest_existing(path)
    if not os.path.isdir(existing):
        raise OutputError(f"{flag} {path}: {existing} is a file, not a directory")
    if not probe:
        return
    created = []
    target = os.path.abspath(path)
    missing = []
    while not os.path.exists(target):
        missing.append(target)
        target = os.path.dirname(target)
    try:
        for directory in reversed(missing):
            os.mkdir(directory)
            created.append(directory)
        probe_file = temp_sibling(os.path.join(path, "probe"), "tmp")
        with open(probe_file, "w"):
            pass
        os.remove(probe_file)
    except OSError as e:
        raise OutputError(f"{flag} {path}: cannot write there ({e.strerror})") from e
    finally:
        for directory in reversed(created):
            try:
                os.rmdir(directory)
            except OSError:
                pass


def ensure_writable_directory(path: str, flag: str) -> None:
    """Creates ``path`` (and parents) now, so that a bad location fails before work."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{flag} {path}: cannot create it ({e.strerror})") from e
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {path}: not writable")


def publish(temp: str, final: str) -> None:
    """
    Moves the complete ``temp`` (file or directory) to ``final``. An existing ``final``
    is moved aside first and removed only once ``temp`` is in place.
    """
    old = None
    if os.path.lexists(final):
        if os.path.isdir(final) and not os.path.islink(final):
            old = temp_sibling(final, "old")
            os.rename(final, old)
        elif os.path.isdir(temp):
            old = temp_sibling(final, "old")
            os.rename(final, old)
    try:
        os.replace(temp, final)
    except OSError:
        if old is not None:
            os.rename(old, final)
        raise
    _fsync_parent(final)
    if old is not None:
        if os.path.isdir(old) and not os.path.islink(old):
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.remove(old)


def discard(temp: str) -> None:
    """Removes a temporary this process wrote (file or directory); no error if gone."""
    if os.path.isdir(temp) and not os.path.islink(temp):
        shutil.rmtree(temp, ignore_errors=True)
    else:
        try:
            os.remove(temp)
        except FileNotFoundError:
            pass


def _fsync_parent(path: str) -> None:
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems refuse fsync on directories
        if e.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def write_text_atomically(path: str, text: str) -> None:
    """Writes a small text file (JSON, manifest) through a temporary sibling."""
    temp = temp_sibling(path, "tmp")
    try:
        with open(temp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        publish(temp, path)
    except BaseException:
        discard(temp)
        raise
