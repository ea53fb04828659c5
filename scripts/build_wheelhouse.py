#!/usr/bin/env python3
"""Builds, on a connected machine, the wheelhouse that scripts/setup_env.sh --host-torch
installs from on an air-gapped host whose site provides torch: the fbgemm-gpu build
and torchrec that match the host's torch (scripts/stack_compat.tsv), the project's
runtime and test requirements (requirements-common.txt) with their dependencies, and
setuptools and pip (for the project's editable install), all as binary wheels for the
host's Python and platform; never torch itself. Writes wheelhouse.json (the target) and
SHA256SUMS (every file), which the install verifies.

    python scripts/build_wheelhouse.py --python 3.12 --torch 2.11 --cuda 13
    python scripts/build_wheelhouse.py --python 3.11 --torch 2.13 --cpu --output DIR

The CUDA build of fbgemm-gpu comes from PyTorch's index for that CUDA version
(https://download.pytorch.org/whl/cu130 for --cuda 13, as FBGEMM documents), the CPU
build is PyPI's fbgemm-gpu-cpu; everything else comes from pip's configured index.
``--find-links DIR --no-index`` builds from local files only (mirrors, tests).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from typing import List, Optional

from host_stack import (
    MANIFEST,
    StackError,
    fbgemm_project,
    find_wheel,
    lookup,
    torch_minor,
    write_checksums,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTORCH_INDEX = "https://download.pytorch.org/whl"
# CUDA major -> the minor of PyTorch's index used when only the major is given (FBGEMM
# 1.6.0 is built for 12.6, 12.8, 12.9 and 13.0).
DEFAULT_CUDA_MINOR = {"12": "12.8", "13": "13.0"}
# The editable install of the project (setup.py, no pyproject.toml) builds with these
# offline: setuptools from 70.1 needs no `wheel` package, and the host venv's bundled
# pip is upgraded first (older ones ask for `wheel` too).
BUILD_REQUIREMENTS = ["setuptools>=70.1", "pip>=24"]
# A local version label no real torch has: the stub below satisfies every requirement
# on torch during resolution and nothing else matches the constraint.
STUB_LABEL = "hoststub"


def cuda_index_tag(cuda: str) -> str:
    """``cu130`` of ``13`` or ``13.0``."""
    version = DEFAULT_CUDA_MINOR.get(cuda, cuda)
    match = re.match(r"^(\d+)\.(\d)$", version)
    if not match:
        raise StackError(
            f"--cuda {cuda}: expected MAJOR (12, 13) or MAJOR.MINOR (12.6)"
        )
    return f"cu{match.group(1)}{match.group(2)}"


def platforms(arch: str, glibc: str) -> List[str]:
    """Every manylinux tag a host with ``glibc`` accepts, newest first (pip does not
    widen an explicit --platform manylinux_2_28 to the older tags)."""
    match = re.match(r"^2\.(\d+)$", glibc)
    if not match or int(match.group(1)) < 17:
        raise StackError(f"--glibc {glibc}: expected 2.N with N >= 17")
    tags = [f"manylinux_2_{n}_{arch}" for n in range(int(match.group(1)), 16, -1)]
    return tags + [f"manylinux2014_{arch}"]


def torch_stub(directory: str, version: str) -> str:
    """A torch wheel with no content and no dependencies, so that pip resolves the
    requirements against the host's torch without downloading a real one."""
    name = f"torch-{version}-py3-none-any.whl"
    info = f"torch-{version}.dist-info"
    files = {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: build_wheelhouse\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{info}/RECORD,,\n"
    path = os.path.join(directory, name)
    with zipfile.ZipFile(path, "w") as z:
        for member, text in files.items():
            z.writestr(member, text)
    return path


def pip(args: List[str], what: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    print(f"[wheelhouse] {what}", flush=True)
    done = subprocess.run(cmd)
    if done.returncode != 0:
        raise StackError(f"pip could not {what} (its message is above)")


def downloads(args: List[str]) -> bool:
    """Whether ``pip download args`` succeeds (quietly: a failure is handled)."""
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "download"]
    return subprocess.run([*cmd, "-q", *args], capture_output=True).returncode == 0


def pinned_requirements(path: str) -> List[str]:
    """The requirement lines of a requirements file (no options, no comments)."""
    lines = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                lines.append(line)
    return lines


def source_wheel(requirement: str, directory: str, finder: List[str]) -> str:
    """Builds ``requirement`` from its source distribution into ``directory``; the
    wheel's name, refused unless it is pure Python (``py3-none-any``)."""
    with tempfile.TemporaryDirectory() as scratch:
        pip(
            ["wheel", "-q", "--no-deps", "--no-binary=:all:", "-w", scratch]
            + [*finder, requirement],
            f"build {requirement} from its source (no wheel published)",
        )
        (name,) = os.listdir(scratch)
        if not re.search(r"-py[23][^-]*-none-any\.whl$", name):
            raise StackError(
                f"{requirement} has no published wheel for the target and builds "
                f"{name}, which is not pure Python: build it on a machine like the host"
            )
        shutil.move(os.path.join(scratch, name), os.path.join(directory, name))
        return name


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--python", required=True, help="the host's Python, e.g. 3.12")
    p.add_argument(
        "--torch", required=True, help="the host's torch, e.g. 2.11 or 2.11.0"
    )
    variant = p.add_mutually_exclusive_group(required=True)
    variant.add_argument("--cuda", help="the host torch's CUDA: 13, 12.8, ...")
    variant.add_argument("--cpu", action="store_true", help="a CPU-only torch")
    p.add_argument("--arch", default="x86_64", choices=("x86_64", "aarch64"))
    p.add_argument(
        "--glibc", default="2.28", help="the host's glibc (manylinux tags up to it)"
    )
    p.add_argument(
        "--requirements",
        default=os.path.join(ROOT, "requirements-common.txt"),
        help="the requirements besides torch/fbgemm/torchrec",
    )
    p.add_argument(
        "--fbgemm_index_url",
        default=None,
        help=f"where the CUDA fbgemm-gpu comes from (default: {PYTORCH_INDEX}/cuXY)",
    )
    p.add_argument(
        "--find-links",
        dest="find_links",
        action="append",
        default=[],
        help="also look for wheels in this directory (repeatable)",
    )
    p.add_argument(
        "--no-index",
        dest="no_index",
        action="store_true",
        help="no index at all: --find-links only (offline builds, tests)",
    )
    p.add_argument(
        "--output",
        default=None,
        help="default: results/wheelhouse/<target> (ignored by git)",
    )
    args = p.parse_args(argv)
    if not re.match(r"^3\.\d+$", args.python):
        p.error(f"--python {args.python}: expected 3.N")
    return args


def build(args: argparse.Namespace) -> str:
    pair = lookup(args.torch)
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if here != args.python:
        # pip takes wheel tags and Requires-Python from --python-version, but
        # evaluates environment markers (`; python_version < "3.11"`) for itself.
        print(
            f"[wheelhouse] warning: this is Python {here}; dependencies with markers "
            f"on the Python version follow {here}, not {args.python} (run with "
            f"python{args.python} to be exact)",
            file=sys.stderr,
        )
    minor = torch_minor(args.torch)
    full = args.torch if re.match(r"^\d+\.\d+\.\d+$", args.torch) else f"{minor}.0"
    variant = "cpu" if args.cpu else "cuda"
    index_tag = "cpu" if args.cpu else cuda_index_tag(args.cuda)
    target = f"py{args.python.replace('.', '')}-torch{minor}-{index_tag}"
    output = os.path.abspath(
        args.output or os.path.join(ROOT, "results", "wheelhouse", target)
    )
    if os.path.exists(output) and os.listdir(output):
        raise StackError(
            f"{output} exists and is not empty (remove it or pick --output)"
        )
    if not os.path.isfile(args.requirements):
        raise StackError(f"{args.requirements} does not exist")

    finder = [f"--find-links={d}" for d in args.find_links]
    finder += ["--no-index"] if args.no_index else []
    target_flags = ["--only-binary=:all:", "--implementation", "cp"]
    target_flags += ["--python-version", args.python]
    for tag in platforms(args.arch, args.glibc):
        target_flags += ["--platform", tag]

    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    # Written beside the output and renamed into place when complete.
    work = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.tmp-", dir=parent)
    try:
        stub_dir = os.path.join(work, ".stub")
        os.makedirs(stub_dir)
        torch_stub(stub_dir, f"{full}+{STUB_LABEL}")
        constraints = os.path.join(stub_dir, "constraints.txt")
        with open(constraints, "w") as f:
            f.write(f"torch=={full}+{STUB_LABEL}\n")
        # Requirements published only as source (iopath 0.1.10) become wheels here;
        # they must be pure Python to serve another interpreter. One pip run for all,
        # one per requirement only when some have no wheel.
        pins = pinned_requirements(args.requirements)
        no_deps = ["--no-deps", "-d", work, *target_flags, *finder]
        if not downloads([*no_deps, *pins]):
            for requirement in pins:
                if not downloads([*no_deps, requirement]):
                    built = source_wheel(requirement, work, finder)
                    print(
                        f"[wheelhouse] {requirement}: no wheel published, built {built}"
                    )
        pip(
            ["download", "-q", "-d", work, *target_flags, *finder]
            + [f"--find-links={stub_dir}", f"--find-links={work}", "-c", constraints]
            + ["-r", args.requirements, *BUILD_REQUIREMENTS],
            f"download {os.path.basename(args.requirements)} and its dependencies "
            f"for Python {args.python} (torch {full} is the host's)",
        )
        # torchrec declares the CUDA fbgemm-gpu and nothing pinned: without its
        # dependencies (they are in the requirements), the fbgemm build comes next.
        pip(
            ["download", "-q", "--no-deps", "-d", work, *target_flags, *finder]
            + [f"torchrec=={pair.torchrec}"],
            f"download torchrec {pair.torchrec}",
        )
        fbgemm = f"{fbgemm_project(variant)}=={pair.fbgemm_gpu}"
        source = finder
        if variant == "cuda" and not args.no_index:
            url = args.fbgemm_index_url or f"{PYTORCH_INDEX}/{index_tag}"
            source = [f"--index-url={url}", *finder]
        pip(
            ["download", "-q", "--no-deps", "-d", work, *target_flags, *source, fbgemm],
            f"download {fbgemm} ({index_tag})",
        )
        shutil.rmtree(stub_dir)
        for name in os.listdir(work):
            if name.startswith("torch-") and name.endswith(".whl"):
                os.remove(os.path.join(work, name))  # the stub: never ship a torch
        for project, version in (
            (fbgemm_project(variant), pair.fbgemm_gpu),
            ("torchrec", pair.torchrec),
        ):
            if find_wheel(work, project, version) is None:
                raise StackError(f"pip downloaded no {project} {version} wheel")
        manifest = {
            "target": {
                "python": args.python,
                "torch": full,
                "variant": variant,
                "index": index_tag,
                "platforms": platforms(args.arch, args.glibc),
            },
            "fbgemm_gpu": fbgemm,
            "torchrec": f"torchrec=={pair.torchrec}",
            "requirements": os.path.basename(args.requirements),
        }
        with open(os.path.join(work, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        write_checksums(work)
        if os.path.isdir(output):
            os.rmdir(output)  # empty, checked above
        os.rename(work, output)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    count = len([n for n in os.listdir(output) if n.endswith(".whl")])
    print(f"[wheelhouse] {count} wheels for {target} in {output} (SHA256SUMS written)")
    print(
        f"[wheelhouse] on the host: TORCHREC_DLF_WHEELHOUSE={output} "
        f"scripts/setup_env.sh --host-torch"
    )
    return output


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        build(args)
    except StackError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
