"""Runs the project's entry points (``python -m torchrec_dlf.<name>``, launch/*.py,
datasets/*.py, torchx) as a user would."""

import os
import subprocess
import sys
from typing import List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def script_env() -> dict:
    """The environment with this interpreter's bin first (torchx, torchrun) and unbuffered output."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def run_script(argv: List[str], timeout: float = 600) -> subprocess.CompletedProcess:
    """``argv`` from the repository root; a leading ".py" path runs with this interpreter."""
    if argv and argv[0].endswith(".py"):
        argv = [sys.executable, *argv]
    return subprocess.run(
        argv,
        cwd=ROOT,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_module(
    module: str, argv: List[str], cwd: str = ROOT, timeout: float = 600
) -> subprocess.CompletedProcess:
    """``python -m module argv`` in ``cwd``, with the installed package only: no
    ``PYTHONPATH``, so a ``cwd`` outside the checkout shows the install is enough."""
    env = script_env()
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, "-m", module, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def torchrun(
    nproc: int, argv: List[str], timeout: float = 900
) -> subprocess.CompletedProcess:
    """``argv`` (a script and its flags) on ``nproc`` local ranks, on a free port."""
    return run_script(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            str(nproc),
            *argv,
        ],
        timeout,
    )


def tiny_dlf_flags(
    over_arch: str = "32,1",
    num_layers: int = 2,
    block_mlp_width: int = 64,
    batch_size: int = 256,
) -> List[str]:
    """train.py flags of a DLF small enough for CPU tests (8-wide embeddings, rank 4)."""
    return [
        "--interaction_type", "dlf", "--embedding_dim", "8",
        "--dense_arch_layer_sizes", "16,8", "--over_arch_layer_sizes", over_arch,
        "--dlf_num_layers", str(num_layers), "--dlf_tokens_per_block", "4",
        "--dlf_rank", "4", "--dlf_block_mlp_width", str(block_mlp_width),
        "--batch_size", str(batch_size), "--print_progress", "off",
    ]  # fmt: skip
