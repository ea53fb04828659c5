"""A small model trained once per test session, with its checkpoints."""

import atexit
import json
import os
import shutil
import tempfile
from typing import Dict, Optional

from tests.scripts import tiny_dlf_flags, torchrun
from torchrec_dlf.data.synthetic import SyntheticConfig, generate

_TRAINED: Optional[Dict[str, str]] = None


def trained_model() -> Dict[str, str]:
    """Trains DLRM_DLF on a small synthetic set (2 ranks via torchrun) once; returns paths."""
    global _TRAINED
    if _TRAINED is not None:
        return _TRAINED
    tmp = tempfile.mkdtemp()
    atexit.register(shutil.rmtree, tmp, True)
    data = os.path.join(tmp, "data")
    generate(
        SyntheticConfig(
            train_rows=12000,
            valid_rows=3000,
            test_rows=3001,
            num_numeric=3,
            num_categorical=6,
            max_vocab=200,
            seed=4,
        ),
        data,
    )
    out, ckpt = os.path.join(tmp, "results"), os.path.join(tmp, "ckpt")
    done = torchrun(
        2,
        [
            "launch/train.py",
            "--dataset_dir",
            data,
            *tiny_dlf_flags(batch_size=512),
            "--epochs",
            "1",
            "--output_dir",
            out,
            "--run_name",
            "run",
            "--checkpoint_dir",
            ckpt,
            "--sharding",
            "table_wise",
        ],
    )
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
    with open(os.path.join(out, "run", "metrics.json")) as f:
        metrics = json.load(f)
    _TRAINED = {
        "data": data,
        "ckpt": ckpt,
        "best": os.path.join(ckpt, "best"),
        "tmp": tmp,
        "metrics": json.dumps(metrics),
    }
    return _TRAINED
