"""The main job: DLRM_DLF against TorchRec's DLRM (dot) and DLRM_DCN on the embedded
default data, each launched through TorchX, then one table.

    python -m torchrec_dlf.main_job [--interactions dot,dcn,dlf] [--nodes_x_procs 1x2]
                                    [--multi_hot 3,2,1,...] [-- <extra training flags>]

``--multi_hot`` trains every model on the multi-hot variant of the default data (bags
of the given sizes per categorical field, MLPerf DLRMv2 style; see
`torchrec_dlf.data.synthetic`): the set is generated once and each run is given it.

From any directory each model runs as ``torchx run -s local_cwd dist.ddp -j 1x2 -m
torchrec_dlf.train -- ...``; ``launch/main_job.py`` (``make train``) runs the same job
from the checkout as ``torchx run dist.ddp -j 1x2 --script launch/train.py -- ...``, with
the local_cwd scheduler and log directory of its ``.torchxconfig``. Also installed as
``torchrec-dlf-main-job``.
"""

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional

if TYPE_CHECKING:
    from torchrec_dlf.data.synthetic import SyntheticConfig

# What TorchX runs on each rank: the installed training module, or a script path.
TRAIN_MODULE = ["-m", "torchrec_dlf.train"]


@dataclass(frozen=True)
class Launch:
    """How each model is launched: what TorchX runs on each rank (``-m <module>`` or
    ``--script <path>``), its scheduler (None: from ``.torchxconfig`` in ``cwd``), where
    its logs go (for the failure message) and where ``torchx`` starts (None: here)."""

    entry: List[str]
    scheduler: Optional[str] = "local_cwd"
    logs: str = "in TorchX's output above"
    cwd: Optional[str] = None


# From any directory: the installed module on the local_cwd scheduler.
INSTALLED = Launch(TRAIN_MODULE)


def torchx_command(
    nodes_x_procs: str, train_args: List[str], launch: Launch = INSTALLED
) -> List[str]:
    """``torchx run dist.ddp`` of ``launch.entry`` on ``nodes_x_procs``."""
    torchx = shutil.which("torchx", path=os.path.dirname(sys.executable)) or "torchx"
    scheduler = ["-s", launch.scheduler] if launch.scheduler else []
    return [
        torchx,
        "run",
        *scheduler,
        "dist.ddp",
        "-j",
        nodes_x_procs,
        *launch.entry,
        "--",
        *train_args,
    ]


@contextlib.contextmanager
def _torchx_env(launch: Launch) -> Iterator[Dict[str, str]]:
    """The environment of the ``torchx`` call. A module launch reads no
    ``.torchxconfig`` (an empty one stands in): the checkout's sets ``--script`` for
    ``dist.ddp``, which TorchX refuses beside ``-m``, and the scheduler is on the
    command line anyway."""
    env = dict(os.environ)
    if launch.entry[:1] != ["-m"]:
        yield env
        return
    with tempfile.NamedTemporaryFile("w", suffix=".torchxconfig") as empty:
        env["TORCHXCONFIG"] = empty.name
        yield env


def format_table(rows: List[Dict[str, Any]]) -> str:
    header = (
        f"{'model':<6} {'valid AUC':>9} {'valid logloss':>13} {'test AUC':>9} "
        f"{'test logloss':>12} {'samples/s':>10} {'non-emb params':>15}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['model']:<6} {r['valid']['auc']:>9.5f} {r['valid']['logloss']:>13.5f} "
            f"{r['test']['auc']:>9.5f} {r['test']['logloss']:>12.5f} "
            f"{r['train_samples_per_second']:>10,.0f} {r['parameters']['non_embedding']:>15,}"
        )
    return "\n".join(lines)


def parse_args(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--interactions", default="dot,dcn,dlf")
    p.add_argument("--nodes_x_procs", default="1x2")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--output_dir", default=os.path.join("results", "main_job"))
    p.add_argument(
        "--multi_hot",
        default="",
        help="bag sizes of the default data's categorical fields (MLPerf DLRMv2's "
        "--multi_hot_sizes): one per field ('3,2,1,...') or one for all; empty: one-hot",
    )
    p.add_argument(
        "--multi_hot_distribution",
        default="uniform",
        choices=("uniform", "pareto"),
        help="how the bags' extra ids are drawn",
    )
    args = p.parse_args(argv)
    from torchrec_dlf.user_errors import UserError

    try:
        _synthetic_config(args).bag_sizes
    except UserError as e:
        p.error(str(e))
    return args


def _synthetic_config(args: argparse.Namespace) -> "SyntheticConfig":
    """The default data, multi-hot when ``--multi_hot`` asks for bags."""
    from torchrec_dlf.data.synthetic import SyntheticConfig

    return SyntheticConfig(
        multi_hot=args.multi_hot,
        multi_hot_distribution=args.multi_hot_distribution,
    )


def _output_dir_for_job(out: str, cwd: Optional[str]) -> str:
    """``out`` as the job (started in ``cwd``) must be told it to reach the same place."""
    if cwd is None or os.path.abspath(cwd) == os.path.abspath(os.getcwd()):
        return out
    return os.path.abspath(out)


def run_model(
    kind: str,
    args: argparse.Namespace,
    dataset_dir: str,
    out: str,
    extra: List[str],
    launch: Launch = INSTALLED,
) -> Optional[Dict[str, Any]]:
    """Trains one interaction through TorchX; its metrics, or None when it failed."""
    train_args = [
        "--interaction_type",
        kind,
        "--dataset_dir",
        dataset_dir,
        "--epochs",
        str(args.epochs),
        "--output_dir",
        _output_dir_for_job(out, launch.cwd),
        "--run_name",
        kind,
        *extra,
    ]
    cmd = torchx_command(args.nodes_x_procs, train_args, launch)
    print(f"[main job] {' '.join(cmd)}", flush=True)
    with _torchx_env(launch) as env:
        done = subprocess.run(cmd, cwd=launch.cwd, env=env)
    metrics = os.path.join(out, kind, "metrics.json")
    if done.returncode != 0 or not os.path.isfile(metrics):
        print(f"[main job] {kind} failed (exit {done.returncode}); logs: {launch.logs}")
        return None
    with open(metrics) as f:
        result = json.load(f)
    result["model"] = kind
    return result


def main(argv: Optional[List[str]] = None, launch: Launch = INSTALLED) -> int:
    """Runs the job, each model launched as ``launch`` says."""
    argv = sys.argv[1:] if argv is None else list(argv)
    extra: List[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    args = parse_args(argv)

    from torchrec_dlf.data.synthetic import ensure_synthetic_dataset

    bags = f", multi-hot bags {args.multi_hot}" if args.multi_hot else ""
    print(
        f"[main job] preparing the embedded default data{bags} (cached after the "
        f"first run)"
    )
    dataset_dir = ensure_synthetic_dataset(_synthetic_config(args))
    out = os.path.join(args.output_dir, time.strftime("%Y%m%d-%H%M%S"))
    rows = []
    for kind in args.interactions.split(","):
        result = run_model(kind, args, dataset_dir, out, extra, launch)
        if result is None:
            return 1
        rows.append(result)
    table = format_table(rows)
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(table + "\n")
    world = rows[0]["world_size"] if rows else 0
    print(
        f"\n[main job] embedded default data, {world} rank(s) via TorchX {args.nodes_x_procs}"
    )
    print(table)
    print(f"[main job] results written to {os.path.abspath(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
