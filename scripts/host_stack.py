#!/usr/bin/env python3
"""The torch a site provides, the fbgemm-gpu / torchrec pair that matches it, and the
wheelhouse they are installed from (scripts/setup_env.sh --host-torch,
scripts/build_wheelhouse.py). Standard library only: it runs with the site's
interpreter before anything of this project is installed.

    python scripts/host_stack.py torch                 # "<torch version> <cpu|cuda>"
    python scripts/host_stack.py lookup 2.11.0+cu130   # "fbgemm-gpu 1.6.0 torchrec 1.6.1"
    python scripts/host_stack.py site-dirs             # this venv's site dirs, if a venv
    python scripts/host_stack.py check DIR --torch 2.11.0+cu130 --variant cuda
        # verifies DIR/SHA256SUMS and prints the pins to install from DIR

A problem is one ``error: ...`` line on stderr and exit status 2.
"""

import argparse
import hashlib
import json
import os
import re
import sys
import warnings
from typing import Dict, List, NamedTuple, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
TABLE = os.path.join(HERE, "stack_compat.tsv")
CHECKSUMS = "SHA256SUMS"
MANIFEST = "wheelhouse.json"
VARIANTS = ("cpu", "cuda")


class StackError(Exception):
    """What the user must fix, in one line."""


class Pair(NamedTuple):
    torch: str  # major.minor
    fbgemm_gpu: str
    torchrec: str
    status: str


def torch_minor(version: str) -> str:
    """``2.11`` of ``2.11.0+cu130`` (or of ``2.11``)."""
    match = re.match(r"^(\d+)\.(\d+)(?:[.+a-z]|$)", version.strip())
    if not match:
        raise StackError(f"cannot read a torch version from {version!r}")
    return f"{match.group(1)}.{match.group(2)}"


def load_table(path: str = TABLE) -> Dict[str, Pair]:
    pairs: Dict[str, Pair] = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].rstrip("\n")
            if not line.strip():
                continue
            cells = [c.strip() for c in line.split("\t")]
            if len(cells) != 4:
                raise StackError(f"{path}:{number}: expected 4 tab-separated columns")
            pairs[cells[0]] = Pair(*cells)
    return pairs


def _shown(path: str) -> str:
    """``path`` relative to the checkout when it is in it (scripts/stack_compat.tsv)."""
    relative = os.path.relpath(path, os.path.dirname(HERE))
    return path if relative.startswith("..") else relative


def lookup(torch_version: str, path: str = TABLE) -> Pair:
    pairs = load_table(path)
    minor = torch_minor(torch_version)
    if minor not in pairs:
        known = ", ".join(sorted(pairs, key=lambda v: tuple(map(int, v.split(".")))))
        raise StackError(
            f"torch {torch_version} is not in {_shown(path)} (known: {known}); "
            f"add its fbgemm-gpu/torchrec pair there"
        )
    return pairs[minor]


def fbgemm_project(variant: str) -> str:
    """The fbgemm-gpu distribution of a variant: PyPI's CPU build or the CUDA build."""
    return "fbgemm-gpu-cpu" if variant == "cpu" else "fbgemm-gpu"


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def find_wheel(directory: str, project: str, version: str) -> Optional[str]:
    """The wheel of ``project`` ``version`` (any local label: 1.6.0+cu130) in
    ``directory``."""
    pattern = re.compile(
        rf"^{_normalized(project)}-{re.escape(version)}(\+[A-Za-z0-9.]+)?-.+\.whl$"
    )
    for name in sorted(os.listdir(directory)):
        parts = name.split("-", 1)
        if len(parts) == 2 and pattern.match(f"{_normalized(parts[0])}-{parts[1]}"):
            return name
    return None


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(directory: str) -> str:
    """``SHA256SUMS`` (``sha256sum`` format) of every file in ``directory``."""
    lines = [
        f"{sha256(os.path.join(directory, name))}  {name}\n"
        for name in sorted(os.listdir(directory))
        if name != CHECKSUMS and os.path.isfile(os.path.join(directory, name))
    ]
    path = os.path.join(directory, CHECKSUMS)
    with open(path, "w") as f:
        f.writelines(lines)
    return path


def verify_checksums(directory: str) -> List[str]:
    """The files of ``directory``, each checked against ``SHA256SUMS``. Refuses a
    file that is not listed too: pip's --find-links would install it unchecked."""
    if not os.path.isdir(directory):
        raise StackError(f"wheelhouse {directory} does not exist")
    listing = os.path.join(directory, CHECKSUMS)
    if not os.path.isfile(listing):
        raise StackError(
            f"wheelhouse {directory} has no {CHECKSUMS} (build it with "
            f"scripts/build_wheelhouse.py)"
        )
    expected: Dict[str, str] = {}
    with open(listing) as f:
        for number, line in enumerate(f, 1):
            match = re.match(r"^([0-9a-fA-F]{64}) [ *](.+)$", line.rstrip("\n"))
            if not match or "/" in match.group(2):
                raise StackError(f"{listing}:{number}: not a sha256sum line")
            expected[match.group(2)] = match.group(1).lower()
    present = sorted(
        n for n in os.listdir(directory) if n != CHECKSUMS and not n.startswith(".")
    )
    unlisted = [n for n in present if n not in expected]
    if unlisted:
        raise StackError(
            f"wheelhouse {directory} holds files {CHECKSUMS} does not list: "
            f"{', '.join(unlisted)}"
        )
    missing = sorted(set(expected) - set(present))
    if missing:
        raise StackError(
            f"wheelhouse {directory} lacks files {CHECKSUMS} lists: {', '.join(missing)}"
        )
    for name in present:
        if sha256(os.path.join(directory, name)) != expected[name]:
            raise StackError(
                f"checksum mismatch in wheelhouse {directory}: {name} is not the file "
                f"{CHECKSUMS} lists (refusing to install from it)"
            )
    return present


def check_wheelhouse(
    directory: str, torch_version: str, variant: str, python: str
) -> List[str]:
    """The pins to install from ``directory`` next to ``torch_version``: fbgemm-gpu
    (the variant's build) and torchrec, after the checksums and the manifest."""
    verify_checksums(directory)
    pair = lookup(torch_version)
    manifest_path = os.path.join(directory, MANIFEST)
    if os.path.isfile(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        built = manifest.get("target", {})
        for key, here in (
            ("python", python),
            ("variant", variant),
            ("torch", torch_minor(torch_version)),
        ):
            there = built.get(key)
            if key == "torch" and there is not None:
                there = torch_minor(there)
            if there is not None and there != here:
                raise StackError(
                    f"wheelhouse {directory} was built for {key} {there}, this host "
                    f"has {key} {here}"
                )
    pins = []
    for project, version in (
        (fbgemm_project(variant), pair.fbgemm_gpu),
        ("torchrec", pair.torchrec),
    ):
        if find_wheel(directory, project, version) is None:
            raise StackError(
                f"wheelhouse {directory} has no {project} {version} wheel (torch "
                f"{torch_version} needs it; build one with scripts/build_wheelhouse.py "
                f"--torch {pair.torch} {'--cpu' if variant == 'cpu' else '--cuda N'})"
            )
        pins.append(f"{project}=={version}")
    return pins


def host_torch() -> str:
    """``<version> <cpu|cuda>`` of the torch this interpreter imports; the version is
    the installed distribution's (what pip sees and must keep)."""
    try:
        with warnings.catch_warnings():
            # e.g. "Failed to initialize NumPy" where the site's torch has no numpy
            # (the venv gets one): not this check's business.
            warnings.simplefilter("ignore")
            import torch  # noqa: F401 (the site's torch)
    except ImportError as e:
        raise StackError(
            f"{sys.executable} has no torch ({e}); host-torch mode installs next to "
            f"an existing torch: set PYTHON to the interpreter that has it"
        )
    import importlib.metadata

    try:
        version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        raise StackError(
            f"the torch of {sys.executable} ({getattr(torch, '__file__', '?')}) has no "
            f"installed metadata (torch-*.dist-info), so pip cannot see it; install "
            f"it as a package"
        )
    cuda = getattr(getattr(torch, "version", None), "cuda", None)
    return f"{version} {'cuda' if cuda else 'cpu'}"


def site_dirs() -> List[str]:
    """This interpreter's site-packages directories when it runs in a venv (a venv
    made from it sees none of them, --system-site-packages or not), else nothing."""
    if sys.prefix == sys.base_prefix:
        return []
    return [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("torch", help="version and variant of this interpreter's torch")
    look = sub.add_parser("lookup", help="the fbgemm-gpu / torchrec pair of a torch")
    look.add_argument("torch_version")
    sub.add_parser("site-dirs", help="site directories of this venv (none: not a venv)")
    check = sub.add_parser("check", help="verify a wheelhouse, print the pins")
    check.add_argument("wheelhouse")
    check.add_argument("--torch", required=True, help="the host's torch version")
    check.add_argument("--variant", choices=VARIANTS, required=True)
    check.add_argument(
        "--python",
        default=f"{sys.version_info[0]}.{sys.version_info[1]}",
        help="the host's Python version (default: this interpreter's)",
    )
    args = p.parse_args(argv)
    try:
        if args.command == "torch":
            print(host_torch())
        elif args.command == "lookup":
            pair = lookup(args.torch_version)
            print(f"fbgemm-gpu {pair.fbgemm_gpu} torchrec {pair.torchrec}")
        elif args.command == "site-dirs":
            print("\n".join(site_dirs()))
        else:
            pins = check_wheelhouse(
                args.wheelhouse, args.torch, args.variant, args.python
            )
            print("\n".join(pins))
    except (StackError, OSError, ValueError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
