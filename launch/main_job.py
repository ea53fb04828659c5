#!/usr/bin/env python3
"""The main job: DLRM_DLF against TorchRec's DLRM (dot) and DLRM_DCN on the embedded
default data, each launched through TorchX (``torchx run dist.ddp -j 1x2 --script
launch/train.py -- ...``, local_cwd scheduler from ``.torchxconfig``), then one table.

    python launch/main_job.py [--interactions dot,dcn,dlf] [--nodes_x_procs 1x2]
                              [-- <extra launch/train.py flags>]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any, Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def torchx_command(nodes_x_procs: str, train_args: List[str]) -> List[str]:
    torchx = shutil.which("torchx", path=os.path.dirname(sys.executable)) or "torchx"
    return [
        torchx,
        "run",
        "dist.ddp",
        "-j",
        nodes_x_procs,
        "--script",
        "launch/train.py",
        "--",
        *train_args,
    ]


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


def main() -> int:
    argv = sys.argv[1:]
    extra: List[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--interactions", default="dot,dcn,dlf")
    p.add_argument("--nodes_x_procs", default="1x2")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--output_dir", default=os.path.join("results", "main_job"))
    args = p.parse_args(argv)

    from torchrec_dlf.data.synthetic import ensure_synthetic_dataset

    print("[main job] preparing the embedded default data (cached after the first run)")
    dataset_dir = ensure_synthetic_dataset()
    out = os.path.join(args.output_dir, time.strftime("%Y%m%d-%H%M%S"))
    rows = []
    for kind in args.interactions.split(","):
        train_args = [
            "--interaction_type",
            kind,
            "--dataset_dir",
            dataset_dir,
            "--epochs",
            str(args.epochs),
            "--output_dir",
            out,
            "--run_name",
            kind,
            *extra,
        ]
        cmd = torchx_command(args.nodes_x_procs, train_args)
        print(f"[main job] {' '.join(cmd)}", flush=True)
        done = subprocess.run(cmd, cwd=ROOT)
        metrics = os.path.join(out, kind, "metrics.json")
        if done.returncode != 0 or not os.path.isfile(metrics):
            print(
                f"[main job] {kind} failed (exit {done.returncode}); logs: results/torchx"
            )
            return 1
        with open(metrics) as f:
            result = json.load(f)
        result["model"] = kind
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
