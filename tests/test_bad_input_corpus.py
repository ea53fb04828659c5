"""Hostile inputs through launch/train.py, launch/predict.py and launch/export.py.

Every case runs the real command in a subprocess on files made for it and asserts the
exact outcome: the exit status, the one line that explains it (``error: ...`` for a user
error, never a traceback) and that nothing written before the case changed (the whole
work tree is hashed before and after; a case that is meant to write names its output).

The corpus is a table (`CASES`), so it also runs as a script against any checkout, to
show what another version of the code does with the same inputs::

    python tests/test_bad_input_corpus.py --repo /path/to/checkout   # case | exit | line

The data preparation corpus is tests/preprocessing/test_bad_input_corpus.py.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.scripts import ROOT, tiny_dlf_flags  # noqa: E402

SCRIPTS = {
    "train": "launch/train.py",
    "predict": "launch/predict.py",
    "export": "launch/export.py",
}
# Cases run side by side, one single-threaded command each.
WORKERS = max(1, min(4, os.cpu_count() or 1))
SMALL_MODEL = tiny_dlf_flags(over_arch="16,1", num_layers=1, block_mlp_width=32)


class Fixtures:
    """
    Shared inputs, made once by the checkout under test (its own prepare.py and
    train.py), so that the corpus runs against older checkouts too. Cases copy what
    they change.
    """

    def __init__(self, repo: str, root: str) -> None:
        self.repo = repo
        self.root = root
        self.csv = os.path.join(root, "clicks.csv")
        self.data = os.path.join(root, "data")
        self.data_reseeded = os.path.join(root, "data_reseeded")
        self.results = os.path.join(root, "results")
        self.ckpt = os.path.join(root, "ckpt")

    def build(self) -> None:
        _write_clicks_csv(self.csv, rows=3000, seed=0)
        for out, seed in ((self.data, "1"), (self.data_reseeded, "2")):
            done = run(
                self.repo,
                [
                    sys.executable,
                    "datasets/prepare.py",
                    "bars",
                    self.csv,
                    "--split",
                    "random",
                    "--seed",
                    seed,
                    "--numeric_columns",
                    "n1,n2",
                    "--output",
                    out,
                    "--quiet",
                ],
            )
            if done.returncode != 0:
                raise RuntimeError(f"preparing {out} failed: {done.stderr[-2000:]}")
        done = self.train(
            self.data,
            "--checkpoint_dir",
            self.ckpt,
            "--checkpoint_every_n_steps",
            "4",
            "--run_name",
            "base",
        )
        if done.returncode != 0:
            raise RuntimeError(f"training the fixture failed: {done.stderr[-3000:]}")

    def train(self, data: str, *extra: str) -> subprocess.CompletedProcess:
        return run(
            self.repo,
            [
                sys.executable,
                SCRIPTS["train"],
                "--dataset_dir",
                data,
                *SMALL_MODEL,
                "--epochs",
                "1",
                "--output_dir",
                self.results,
                *extra,
            ],
        )

    @property
    def best(self) -> str:
        return os.path.join(self.ckpt, "best")

    def steps(self, ckpt: Optional[str] = None) -> List[str]:
        ckpt = ckpt or self.ckpt
        return sorted(
            os.path.join(ckpt, n) for n in os.listdir(ckpt) if n.startswith("step_")
        )


def _write_clicks_csv(path: str, rows: int, seed: int) -> None:
    """A BARS-style CSV: label, two small numeric columns, four categorical ones."""
    rng = np.random.default_rng(seed)
    cats = [rng.integers(0, k, rows) for k in (6, 9, 12, 5)]
    n1, n2 = rng.integers(0, 10, rows), rng.random(rows).round(3)
    logit = (cats[0] % 3 - 1) + (cats[1] % 2) * 0.8 - 0.5 + n2
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    with open(path, "w") as f:
        f.write("label,n1,n2,c1,c2,c3,c4\n")
        for i in range(rows):
            values = [labels[i], n1[i], n2[i]] + [f"v{c[i]}" for c in cats]
            f.write(",".join(str(v) for v in values) + "\n")


def run(
    repo: str, argv: Sequence[str], timeout: float = 600
) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    return subprocess.run(
        list(argv), cwd=repo, env=env, capture_output=True, text=True, timeout=timeout
    )


def tree_digest(root: str, skip: Sequence[str] = ()) -> Dict[str, str]:
    """sha256 of every file under ``root`` (paths relative to it), minus ``skip`` trees."""
    skip = [os.path.join(root, s) for s in skip]
    digests = {}
    for base, dirs, files in os.walk(root):
        if any(base == s or base.startswith(s + os.sep) for s in skip):
            continue
        for name in files:
            path = os.path.join(base, name)
            if any(path == s or path.startswith(s + os.sep) for s in skip):
                continue
            with open(path, "rb") as f:
                digests[os.path.relpath(path, root)] = hashlib.sha256(
                    f.read()
                ).hexdigest()
        for d in dirs:
            path = os.path.join(base, d)
            if not any(path == s or path.startswith(s + os.sep) for s in skip):
                digests[os.path.relpath(path, root) + "/"] = "dir"
    return digests


@dataclass
class Case:
    """
    One hostile input. ``argv`` builds the command line from the fixtures and the case's
    own directory; ``setup`` makes the files the case needs there. ``line`` must match a
    whole line of the output (``stream``), ``absent`` must match none. ``writes`` are
    the paths (relative to the work tree) that the command may create or change.
    """

    name: str
    command: str
    argv: Callable[[Fixtures, str], List[str]]
    exit: int
    line: str
    setup: Optional[Callable[[Fixtures, str], None]] = None
    stream: str = "stderr"
    absent: Sequence[str] = ()
    writes: Callable[[Fixtures, str], List[str]] = field(default=lambda fx, d: [])
    timeout: float = 300


def _touch(path: str, text: str = "keep me\n") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _copy_data(fx: Fixtures, d: str) -> str:
    out = os.path.join(d, "data")
    shutil.copytree(fx.data, out)
    return out


def _shrink_vocab(fx: Fixtures, d: str) -> None:
    data = _copy_data(fx, d)
    path = os.path.join(data, "metadata.json")
    with open(path) as f:
        meta = json.load(f)
    meta["vocab_sizes"]["c3"] = 3
    with open(path, "w") as f:
        json.dump(meta, f)


def _truncate_split(fx: Fixtures, d: str) -> None:
    _truncate(os.path.join(_copy_data(fx, d), "valid", "part-00000.parquet"), 1 / 2)


def _write_in_checkout(fx: Fixtures, d: str, code: str) -> None:
    """Runs ``code`` (sys.argv[1]: the dataset directory) with the checkout's own package."""
    done = run(fx.repo, [sys.executable, "-c", code, os.path.join(d, "data")])
    assert done.returncode == 0, done.stderr


_WRITER = "import sys, numpy as np; from torchrec_dlf.data.writer import PreparedDatasetWriter\n"


def _empty_valid_split(fx: Fixtures, d: str) -> None:
    # What `prepare.py ... --ratios 8,0,2` wrote before it refused zero shares: a valid
    # split of zero rows.
    _write_in_checkout(
        fx,
        d,
        _WRITER
        + (
            "w = PreparedDatasetWriter(sys.argv[1], 'empty_valid', ['n1'], ['c1'])\n"
            "for split, n in (('train', 1000), ('valid', 0), ('test', 300)):\n"
            "    w.write(split, np.arange(n) % 2, np.ones((n, 1), np.float32), "
            "np.zeros((n, 1), int))\n"
            "w.commit(vocab_sizes={'c1': 2})\n"
        ),
    )


def _huge_numbers(fx: Fixtures, d: str) -> None:
    # Finite float32 values near the top of the range: the dense arch overflows.
    _write_in_checkout(
        fx,
        d,
        _WRITER
        + (
            "w = PreparedDatasetWriter(sys.argv[1], 'huge', ['n1', 'n2'], ['c1', 'c2'])\n"
            "rng = np.random.default_rng(0)\n"
            "for split, n in (('train', 2048), ('valid', 512), ('test', 512)):\n"
            "    num = rng.choice([3e38, -3e38, 1.0], (n, 2)).astype(np.float32)\n"
            "    w.write(split, rng.integers(0, 2, n), num, rng.integers(0, 8, (n, 2)))\n"
            "w.commit(vocab_sizes={'c1': 8, 'c2': 8})\n"
        ),
    )


def _infinite_numbers(fx: Fixtures, d: str) -> None:
    _write_in_checkout(
        fx,
        d,
        _WRITER
        + (
            "w = PreparedDatasetWriter(sys.argv[1], 'inf', ['n1'], ['c1'])\n"
            "for split in ('train', 'valid', 'test'):\n"
            "    num = np.ones((600, 1), np.float32); num[7] = np.inf\n"
            "    w.write(split, np.arange(600) % 2, num, np.zeros((600, 1), int))\n"
            "w.commit(vocab_sizes={'c1': 2})\n"
        ),
    )


def _copy_ckpt(fx: Fixtures, d: str) -> str:
    out = os.path.join(d, "ckpt")
    shutil.copytree(fx.ckpt, out)
    return out


def _truncate(path: str, keep: float) -> None:
    with open(path, "r+b") as f:
        f.truncate(int(os.path.getsize(path) * keep))


def _first_shard(checkpoint: str) -> str:
    return os.path.join(
        checkpoint,
        sorted(n for n in os.listdir(checkpoint) if n.endswith(".distcp"))[0],
    )


def _truncate_latest_step(fx: Fixtures, d: str) -> None:
    _truncate(_first_shard(fx.steps(_copy_ckpt(fx, d))[-1]), 1 / 3)


def _truncate_best(fx: Fixtures, d: str) -> None:
    _truncate(_first_shard(os.path.join(_copy_ckpt(fx, d), "best")), 1 / 3)


def _truncate_best_json(fx: Fixtures, d: str) -> None:
    _truncate(os.path.join(_copy_ckpt(fx, d), "best", "best.json"), 1 / 2)


def _earlier_run(fx: Fixtures, d: str) -> None:
    _touch(os.path.join(d, "results", "run", "metrics.json"), '{"earlier": true}\n')


def _foreign_dir(fx: Fixtures, d: str) -> None:
    _touch(os.path.join(d, "mine", "notes.txt"))


def _a_file(fx: Fixtures, d: str) -> None:
    _touch(os.path.join(d, "afile"))


def _earlier_export(fx: Fixtures, d: str) -> None:
    done = run(
        fx.repo,
        [
            sys.executable,
            SCRIPTS["export"],
            "--checkpoint",
            fx.best,
            "--output",
            os.path.join(d, "model.pt"),
            "--quantization",
            "none",
        ],
    )
    assert done.returncode == 0, done.stderr


def _earlier_predictions(fx: Fixtures, d: str) -> None:
    done = run(
        fx.repo,
        [
            sys.executable,
            SCRIPTS["predict"],
            "--checkpoint",
            fx.best,
            "--dataset_dir",
            fx.data,
            "--output",
            os.path.join(d, "pred"),
        ],
    )
    assert done.returncode == 0, done.stderr


def _fill(flag: str, fx: Fixtures, d: str) -> str:
    """A flag with its placeholders ({d}: the case's directory, {data}, {ckpt}...) filled."""
    values = {
        "{d}": d,
        "{best}": fx.best,
        "{ckpt}": fx.ckpt,
        "{data}": fx.data,
        "{data_reseeded}": fx.data_reseeded,
    }
    for key, value in values.items():
        flag = flag.replace(key, value)
    return flag


def _cmd(command: str, *flags: str) -> Callable[[Fixtures, str], List[str]]:
    return lambda fx, d: [SCRIPTS[command], *(_fill(f, fx, d) for f in flags)]


def _train(*flags: str, data: str = "{data}") -> Callable[[Fixtures, str], List[str]]:
    """train.py with the small model on ``data``; later flags override earlier ones."""
    return _cmd(
        "train",
        "--dataset_dir",
        data,
        *SMALL_MODEL,
        "--epochs",
        "1",
        "--output_dir",
        "{d}/results",
        *flags,
    )


ERR = r"error: "
NO_TRAINING = (r"epoch \d+ step \d+:.*",)

CASES: List[Case] = [
    # Flags, checked before the process group and the model exist.
    Case(
        "train: --batch_size -1",
        "train",
        _train("--batch_size", "-1"),
        2,
        ERR + r"--batch_size must be >= 1, got -1",
    ),
    Case(
        "train: --resume atuo",
        "train",
        _train("--checkpoint_dir", "{d}/ck", "--resume", "atuo"),
        2,
        ERR
        + r"--resume atuo: expected auto, never or the directory of a step_\* checkpoint",
    ),
    Case(
        "train: --checkpoint_every_n_steps -1",
        "train",
        _train("--checkpoint_dir", "{d}/ck", "--checkpoint_every_n_steps", "-1"),
        2,
        ERR + r"--checkpoint_every_n_steps must be >= 1, got -1",
        stream="stderr",
        absent=NO_TRAINING,
    ),
    Case(
        "train: --epochs 0",
        "train",
        _train("--epochs", "0"),
        2,
        ERR + r"--epochs must be >= 1, got 0",
    ),
    Case(
        "train: --dlf_dropout 1.5",
        "train",
        _train("--dlf_dropout", "1.5"),
        2,
        ERR + r"--dlf_dropout must be in \[0, 1\), got 1.5",
    ),
    Case(
        "train: --learning_rate nan",
        "train",
        _train("--learning_rate", "nan"),
        2,
        ERR + r"--learning_rate must be a finite number > 0, got nan",
    ),
    Case(
        "train: --embedding_dim 6",
        "train",
        _train("--embedding_dim", "6", "--dense_arch_layer_sizes", "16,6"),
        2,
        ERR
        + r"embedding_dim must be a multiple of 4 for FBGEMM's fused kernels, got 6",
    ),
    Case(
        "train: --epochs x",
        "train",
        _train("--epochs", "x"),
        2,
        ERR + r"argument --epochs: invalid int value: 'x' \(see train.py --help\)",
    ),
    Case(
        "train: unknown flag",
        "train",
        _train("--dlf_layers", "2"),
        2,
        ERR + r"unrecognized arguments: --dlf_layers 2 \(see train.py --help\)",
    ),
    Case(
        "train: --help shows defaults",
        "train",
        _cmd("train", "--help"),
        0,
        r"\s+--epochs EPOCHS\s+\(default: 1\)",
        stream="stdout",
    ),
    Case(
        "train: dlf flags with dot",
        "train",
        _train(
            "--interaction_type",
            "dot",
            "--dlf_rank",
            "4",
            "--limit_train_batches",
            "1",
            "--run_name",
            "dot",
        ),
        0,
        r"warning: --dlf_block_mlp_width, --dlf_num_layers, --dlf_rank, "
        r"--dlf_tokens_per_block have no effect with --interaction_type dot \(ignored\)",
        writes=lambda fx, d: [os.path.join(d, "results")],
    ),
    Case(
        "train: summary names the run",
        "train",
        _train("--limit_train_batches", "1", "--run_name", "my-run"),
        0,
        r"\[torchrec_dlf\] my-run \(dlf\): valid AUC .*",
        stream="stdout",
        writes=lambda fx, d: [os.path.join(d, "results")],
    ),
    Case(
        "train: fused Adam on the CPU",
        "train",
        _train("--embedding_optimizer", "adam", "--device", "cpu"),
        2,
        ERR
        + r"FBGEMM has no fused Adam on the CPU \('Optimizer adam is not supported in "
        r"CPU mode'\); use rowwise_adagrad, adagrad or sgd for the sharded tables, .*",
        absent=NO_TRAINING,
    ),
    Case(
        "train: FBGEMM table decay on the CPU",
        "train",
        _train(
            "--embedding_decay_kernel",
            "fbgemm",
            "--embedding_l2",
            "0.1",
            "--device",
            "cpu",
        ),
        2,
        ERR + r"--embedding_decay_kernel fbgemm needs CUDA: .*",
        absent=NO_TRAINING,
    ),
    # Output locations, checked before the first step.
    Case(
        "train: --output_dir is a file",
        "train",
        _train("--output_dir", "{d}/afile"),
        2,
        ERR + r"--output_dir .*/afile: exists and is not a directory",
        setup=_a_file,
        absent=NO_TRAINING,
    ),
    Case(
        "train: --output_dir cannot be created",
        "train",
        _train("--output_dir", "/proc/torchrec_dlf/out"),
        2,
        ERR + r"--output_dir /proc/torchrec_dlf/out: cannot write there \(.*\)",
        absent=NO_TRAINING,
    ),
    Case(
        "train: --run_name of a finished run",
        "train",
        _train("--run_name", "run"),
        2,
        ERR + r"--output_dir/--run_name .*/results/run: holds the metrics.json of an "
        r"earlier run; refusing to replace it \(choose another --run_name or pass "
        r"--overwrite\)",
        setup=_earlier_run,
        absent=NO_TRAINING,
    ),
    Case(
        "train: --checkpoint_dir is the dataset",
        "train",
        _train("--checkpoint_dir", "{data}"),
        2,
        ERR + r"--checkpoint_dir .*/data: inside or around the input .*/data",
        absent=NO_TRAINING,
    ),
    Case(
        "train: --checkpoint_dir holds other files",
        "train",
        _train("--checkpoint_dir", "{d}/mine"),
        2,
        ERR
        + r"--checkpoint_dir .*/mine: a non-empty directory that holds no checkpoints "
        r"of this trainer; refusing to write into it",
        setup=_foreign_dir,
        absent=NO_TRAINING,
    ),
    # Datasets.
    Case(
        "train: --dataset_dir missing",
        "train",
        _train(data="{d}/nowhere"),
        2,
        ERR + r"--dataset_dir .*/nowhere: no such directory",
    ),
    Case(
        "train: --dataset_dir not prepared",
        "train",
        _train(data="{d}/mine"),
        2,
        ERR + r".*/mine: no metadata.json; is this a prepared dataset directory\?",
        setup=_foreign_dir,
    ),
    Case(
        "train: vocab_sizes edited smaller",
        "train",
        _train(data="{d}/data"),
        2,
        ERR
        + r".*/data/metadata.json: edited after preparation \(its fields, vocab_sizes "
        r"or encoding no longer match the identity recorded when it was prepared\); "
        r"prepare the dataset again",
        setup=_shrink_vocab,
        absent=NO_TRAINING,
    ),
    Case(
        "train: split with zero rows",
        "train",
        _train(data="{d}/data"),
        2,
        ERR + r"--dataset_dir .*/data: split 'valid' has no rows .*",
        setup=_empty_valid_split,
        absent=NO_TRAINING,
    ),
    Case(
        "train: corrupt split Parquet",
        "train",
        _train(data="{d}/data"),
        2,
        ERR + r".*/data/valid/part-00000.parquet: not a readable Parquet file \(.*\)",
        setup=_truncate_split,
        absent=NO_TRAINING,
    ),
    Case(
        "train: infinite numbers in a split",
        "train",
        _train(data="{d}/data"),
        2,
        ERR + r".*/data/train/part-00000.parquet: row group 0, numeric field n1 holds "
        r"non-finite values \(\[1.0, inf\]\)",
        setup=_infinite_numbers,
        absent=NO_TRAINING,
    ),
    Case(
        "train: loss becomes non-finite",
        "train",
        _train("--learning_rate", "1", "--run_name", "huge", data="{d}/data"),
        2,
        ERR
        + r"train loss is (nan|inf) at step \d+ \(epoch 0\): training diverged; lower "
        r"--learning_rate, check the numeric fields' ranges in .*/data/metadata.json or "
        r"transform them",
        setup=_huge_numbers,
        writes=lambda fx, d: [os.path.join(d, "results")],
    ),
    # Checkpoints and resuming.
    Case(
        "train: resume with another model",
        "train",
        _train("--interaction_type", "dot", "--checkpoint_dir", "{d}/ckpt"),
        2,
        ERR
        + r"checkpoint .*/ckpt/step_\d+ holds another model: interaction_type 'dlf' -> "
        r"'dot'; use the flags it was trained with or another --checkpoint_dir",
        setup=lambda fx, d: _copy_ckpt(fx, d),
        absent=NO_TRAINING,
    ),
    Case(
        "train: resume with changed layers",
        "train",
        _train("--dlf_rank", "8", "--checkpoint_dir", "{d}/ckpt"),
        2,
        ERR
        + r"checkpoint .*/ckpt/step_\d+ holds another model: dlf_rank 4 -> 8; use the "
        r"flags it was trained with or another --checkpoint_dir",
        setup=lambda fx, d: _copy_ckpt(fx, d),
        absent=NO_TRAINING,
    ),
    Case(
        "train: resume on a re-seeded preparation",
        "train",
        _train("--checkpoint_dir", "{d}/ckpt", data="{data_reseeded}"),
        2,
        ERR
        + r"checkpoint .*/ckpt/step_\d+ was trained on dataset .* and --dataset_dir "
        r".*/data_reseeded encodes its data differently: same fields and sizes but other "
        r"vocabularies .*",
        setup=lambda fx, d: _copy_ckpt(fx, d),
        absent=NO_TRAINING,
    ),
    Case(
        "train: truncated latest checkpoint",
        "train",
        _train(
            "--checkpoint_dir",
            "{d}/ckpt",
            "--checkpoint_every_n_steps",
            "4",
            "--run_name",
            "resumed",
        ),
        0,
        r"warning: .*/ckpt/step_\d+/__0_0.distcp: \d+ bytes, written with \d+ \(truncated\?\); "
        r"trying the previous checkpoint",
        stream="stdout",
        setup=_truncate_latest_step,
        writes=lambda fx, d: [os.path.join(d, "ckpt"), os.path.join(d, "results")],
    ),
    # Prediction.
    Case(
        "predict: --output is a prepared dataset",
        "predict",
        _cmd(
            "predict",
            "--checkpoint",
            "{best}",
            "--dataset_dir",
            "{data}",
            "--output",
            "{data_reseeded}",
        ),
        2,
        ERR + r"--output .*/data_reseeded: a non-empty directory this command did not "
        r"write; refusing to replace it \(choose another path or pass --overwrite\)",
    ),
    Case(
        "predict: --output is the checkpoint tree",
        "predict",
        _cmd(
            "predict",
            "--checkpoint",
            "{best}",
            "--dataset_dir",
            "{data}",
            "--output",
            "{ckpt}",
        ),
        2,
        ERR + r"--output .*/ckpt: the output would replace the input .*/ckpt/best",
    ),
    Case(
        "predict: --output holds other files",
        "predict",
        _cmd(
            "predict",
            "--checkpoint",
            "{best}",
            "--dataset_dir",
            "{data}",
            "--output",
            "{d}/mine",
        ),
        2,
        ERR + r"--output .*/mine: a non-empty directory this command did not write; "
        r"refusing to replace it \(choose another path or pass --overwrite\)",
        setup=_foreign_dir,
    ),
    Case(
        "predict: --output is a file",
        "predict",
        _cmd(
            "predict",
            "--checkpoint",
            "{best}",
            "--dataset_dir",
            "{data}",
            "--output",
            "{d}/afile",
        ),
        2,
        ERR + r"--output .*/afile: exists and is not a directory",
        setup=_a_file,
    ),
    Case(
        "predict: over earlier predictions",
        "predict",
        _cmd(
            "predict",
            "--checkpoint",
            "{best}",
            "--dataset_dir",
            "{data}",
            "--output",
            "{d}/pred",
        ),
        0,
        r"\[predict\] predictions written to .*/pred",
        stream="stdout",
        setup=_earlier_predictions,
        writes=lambda fx, d: [os.path.join(d, "pred")],
    ),
    Case(
        "predict: not a checkpoint",
        "predict",
        _cmd(
            "predict",
            "--checkpoint",
            "{data}",
            "--dataset_dir",
            "{data}",
            "--output",
            "{d}/pred",
        ),
        2,
        ERR + r".*/data: not a checkpoint \(no trainer_state.json or best.json\)",
    ),
    Case(
        "predict: dataset re-prepared with another seed",
        "predict",
        _cmd(
            "predict",
            "--checkpoint",
            "{best}",
            "--dataset_dir",
            "{data_reseeded}",
            "--output",
            "{d}/pred",
        ),
        2,
        ERR + r"checkpoint .*/best was trained on dataset .* and --dataset_dir "
        r".*/data_reseeded encodes its data differently: same fields and sizes but other "
        r"vocabularies .*",
    ),
    Case(
        "predict: --batch_size 0",
        "predict",
        _cmd(
            "predict",
            "--checkpoint",
            "{best}",
            "--dataset_dir",
            "{data}",
            "--output",
            "{d}/pred",
            "--batch_size",
            "0",
        ),
        2,
        ERR + r"--batch_size must be >= 1, got 0",
    ),
    Case(
        "predict: --split train2",
        "predict",
        _cmd(
            "predict",
            "--checkpoint",
            "{best}",
            "--dataset_dir",
            "{data}",
            "--output",
            "{d}/pred",
            "--split",
            "train2",
        ),
        2,
        ERR + r"argument --split: invalid choice: 'train2' .*",
    ),
    Case(
        "predict: truncated checkpoint",
        "predict",
        _cmd(
            "predict",
            "--checkpoint",
            "{d}/ckpt/best",
            "--dataset_dir",
            "{data}",
            "--output",
            "{d}/pred",
        ),
        2,
        ERR + r".*/ckpt/best: cannot be read \(.*\)",
        setup=_truncate_best,
    ),
    # Export.
    Case(
        "export: --output is a directory",
        "export",
        _cmd("export", "--checkpoint", "{best}", "--output", "{d}/mine"),
        2,
        ERR + r"--output .*/mine: is a directory, expected a file path",
        setup=_foreign_dir,
    ),
    Case(
        "export: --output is another file",
        "export",
        _cmd("export", "--checkpoint", "{best}", "--output", "{d}/afile"),
        2,
        ERR
        + r"--output .*/afile: a file this command did not write; refusing to replace "
        r"it \(choose another path or pass --overwrite\)",
        setup=_a_file,
    ),
    Case(
        "export: damaged checkpoint description",
        "export",
        _cmd("export", "--checkpoint", "{d}/ckpt/best", "--output", "{d}/model.pt"),
        2,
        ERR + r".*/ckpt/best/best.json: damaged checkpoint description \(.*\)",
        setup=_truncate_best_json,
    ),
    Case(
        "export: not a checkpoint",
        "export",
        _cmd("export", "--checkpoint", "{d}/nowhere", "--output", "{d}/model.pt"),
        2,
        ERR + r".*/nowhere: not a checkpoint \(no trainer_state.json or best.json\)",
    ),
    Case(
        "export: over an earlier export",
        "export",
        _cmd(
            "export",
            "--checkpoint",
            "{best}",
            "--output",
            "{d}/model.pt",
            "--quantization",
            "none",
        ),
        0,
        r"\[export\] model written to .*/model.pt",
        stream="stdout",
        setup=_earlier_export,
        writes=lambda fx, d: [
            os.path.join(d, "model.pt"),
            os.path.join(d, "model.pt.json"),
        ],
    ),
    Case(
        "export: --quantization int4",
        "export",
        _cmd(
            "export",
            "--checkpoint",
            "{best}",
            "--output",
            "{d}/model.pt",
            "--quantization",
            "int4",
        ),
        2,
        ERR + r"argument --quantization: invalid choice: 'int4' .*",
    ),
]


@dataclass
class Outcome:
    exit: int
    stdout: str
    stderr: str
    changed: List[str]
    # Temporaries left in the case's directory (".<name>.tmp-...", "<name>.tmp").
    stray: List[str] = field(default_factory=list)

    def first_line(self, case: Case) -> str:
        """The line the case looks for, else the first error, warning or last line."""
        text = self.stderr if case.stream == "stderr" else self.stdout
        lines = [line for line in text.splitlines() if line.strip()]
        for candidates in (
            [ln for ln in lines if re.fullmatch(case.line, ln)],
            [ln for ln in lines if ln.startswith("error:")],
            [ln for ln in lines if ln.startswith("warning:")],
            lines[-1:],
        ):
            if candidates:
                return candidates[0].strip()
        return ""


def _case_digest(fx: Fixtures, d: str, allowed: Sequence[str]) -> Dict[str, str]:
    """The shared fixtures and the case's own directory (other cases, running at the
    same time in their own directories under ``cases``, are not this case's)."""
    cases = os.path.relpath(os.path.dirname(d), fx.root)
    own = os.path.relpath(d, fx.root)
    digests = tree_digest(fx.root, skip=[*allowed, cases])
    inside = [os.path.relpath(a, own) for a in allowed if a.startswith(own + os.sep)]
    for path, digest in tree_digest(d, skip=inside).items():
        digests[os.path.join(own, path)] = digest
    return digests


def run_cases(fx: Fixtures, cases: Sequence[Case], work: str) -> List[object]:
    """
    `run_case` of every case, ``WORKERS`` at a time (each command is one
    single-threaded process in its own directory): an `Outcome`, or the exception its
    setup raised, per case in order.
    """
    os.makedirs(work, exist_ok=True)

    def one(case: Case) -> object:
        try:
            return run_case(fx, case, work)
        except Exception as e:  # reported by the case's own subtest
            return e

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(one, cases))


def run_case(fx: Fixtures, case: Case, work: str) -> Outcome:
    d = os.path.join(work, re.sub(r"[^a-z0-9]+", "_", case.name.lower()).strip("_"))
    os.makedirs(d)
    if case.setup is not None:
        case.setup(fx, d)
    allowed = [os.path.relpath(p, fx.root) for p in case.writes(fx, d)]
    before = _case_digest(fx, d, allowed)
    argv = case.argv(fx, d)
    done = run(fx.repo, [sys.executable, *argv], timeout=case.timeout)
    after = _case_digest(fx, d, allowed)
    changed = sorted(
        k for k in set(before) | set(after) if before.get(k) != after.get(k)
    )
    stray = [
        os.path.relpath(os.path.join(base, n), d)
        for base, dirs, files in os.walk(d)
        for n in dirs + files
        if re.search(r"\.(tmp|spill|old)(-|$)", n)
    ]
    return Outcome(done.returncode, done.stdout, done.stderr, changed, stray)


class BadInputCorpusTest(unittest.TestCase):
    """Each case: exit status, the explaining line, no traceback, nothing else changed."""

    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.mkdtemp()
        cls.fx = Fixtures(ROOT, os.path.join(cls._tmp, "tree"))
        os.makedirs(cls.fx.root)
        cls.fx.build()

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls._tmp, ignore_errors=True)

    def test_corpus_is_large(self) -> None:
        self.assertGreaterEqual(len(CASES), 40)
        self.assertEqual(len({c.name for c in CASES}), len(CASES))

    def test_cases(self) -> None:
        outcomes = run_cases(self.fx, CASES, os.path.join(self.fx.root, "cases"))
        for case, out in zip(CASES, outcomes):
            with self.subTest(case.name):
                if isinstance(out, Exception):
                    raise out
                assert isinstance(out, Outcome)
                log = f"{case.name}: exit {out.exit}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
                self.assertEqual(out.exit, case.exit, log)
                self.assertNotIn("Traceback", out.stderr, log)
                text = out.stderr if case.stream == "stderr" else out.stdout
                lines = text.splitlines()
                self.assertTrue(any(re.fullmatch(case.line, ln) for ln in lines), log)
                for pattern in case.absent:
                    self.assertFalse(
                        any(re.fullmatch(pattern, ln) for ln in lines), log
                    )
                if case.exit == USER_ERROR:
                    errors = [
                        ln for ln in out.stderr.splitlines() if ln.startswith("error:")
                    ]
                    self.assertEqual(len(errors), 1, log)
                self.assertEqual(out.changed, [], f"{case.name}: changed {out.changed}")
                self.assertEqual(out.stray, [], f"{case.name}: left {out.stray}")


USER_ERROR = 2


def _table(repo: str) -> None:
    tmp = tempfile.mkdtemp()
    try:
        fx = Fixtures(repo, os.path.join(tmp, "tree"))
        os.makedirs(fx.root)
        fx.build()
        print("| case | exit | line |\n|---|---|---|")
        for case in CASES:
            try:
                out = run_case(fx, case, os.path.join(fx.root, "cases"))
                line = out.first_line(case)
                if "Traceback" in out.stderr:
                    tail = [ln for ln in out.stderr.splitlines() if ln.strip()]
                    line = f"traceback ({len(out.stderr.splitlines())} lines): {tail[-1][:150]}"
                if out.changed:
                    line += f" [changed: {', '.join(out.changed[:3])}]"
                if out.stray:
                    line += f" [left: {', '.join(out.stray[:3])}]"
                print(
                    f"| {case.name} | {out.exit} | {line.replace('|', '/')[:300]} |",
                    flush=True,
                )
            except Exception as e:  # a setup the other checkout cannot do
                print(f"| {case.name} | - | setup failed: {str(e)[:150]} |", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default=ROOT, help="checkout whose commands to run")
    _table(os.path.abspath(parser.parse_args().repo))
