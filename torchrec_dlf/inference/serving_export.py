"""Exports a trained model as one TorchScript file for serving: unsharded, with int8
embedding tables (TorchRec's inference quantisation) and a scripted dense part."""

import argparse
import json
import os
from typing import Any, Dict, List, Optional

import torch
import torchrec
from torch import nn
from torchrec.inference.modules import quantize_embeddings

from torchrec_dlf.inference.checkpoint_model import (
    load_model_weights,
    model_config,
    read_description,
    training_metadata,
)
from torchrec_dlf.safe_output import (
    check_output,
    discard,
    publish,
    remove_stale_siblings,
    temp_sibling,
    write_text_atomically,
)
from torchrec_dlf.training.model_factory import build_train_model
from torchrec_dlf.training.quiet import quiet_library_messages
from torchrec_dlf.user_errors import CommandLineParser, ConfigError, run_command

QUANTIZATIONS = {"int8": torch.qint8, "none": None}
SERVING_FORMAT = "torchrec_dlf.serving"


def export_for_serving(
    checkpoint: str, output_path: str, quantization: str = "int8"
) -> Dict[str, Any]:
    """
    Builds the model unsharded on the CPU, reads the full tables from the (sharded)
    checkpoint, quantises the EmbeddingBagCollection (``quantization="int8"``: row-wise
    int8 with an fp16 scale and bias, FBGEMM's inference kernels), scripts the whole
    model (fx trace then TorchScript) and saves it. The exported module maps
    ``(dense_features [B, N], sparse_features KJT)`` to logits ``[B, 1]``. A JSON
    manifest beside it records the fields, vocabularies and the checkpoint.
    """
    if quantization not in QUANTIZATIONS:
        raise ConfigError(f"quantization must be one of {sorted(QUANTIZATIONS)}")
    description = read_description(checkpoint)
    cpu = torch.device("cpu")
    train_module = build_train_model(
        model_config(description), training_metadata(description), cpu, ebc_device=cpu
    )
    load_model_weights(checkpoint, train_module, single_process=True)
    model: nn.Module = train_module.model.eval()
    dtype = QUANTIZATIONS[quantization]
    if dtype is not None:
        model = quantize_embeddings(model, dtype=dtype, inplace=True)
    scripted = torch.jit.script(torchrec.fx.symbolic_trace(model))
    manifest = {
        "format": SERVING_FORMAT,
        "checkpoint": os.path.abspath(checkpoint),
        "quantization": quantization,
        "inputs": {
            "dense_features": description["dataset"]["numeric"],
            "sparse_features": description["dataset"]["categorical"],
        },
        "vocab_sizes": description["dataset"]["vocab_sizes"],
        "dataset_identity": description["dataset"].get("identity", ""),
        "model_config": description["model_config"],
        "output": "logit",
    }
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    remove_stale_siblings(output_path)
    tmp = temp_sibling(output_path, "tmp")
    try:
        torch.jit.save(scripted, tmp)
        publish(tmp, output_path)
    except BaseException:
        discard(tmp)
        raise
    write_text_atomically(manifest_path(output_path), json.dumps(manifest, indent=2))
    return manifest


def manifest_path(output_path: str) -> str:
    return output_path + ".json"


def is_serving_export(path: str) -> bool:
    """Whether ``path`` is a model written by `export_for_serving` (its manifest says so)."""
    try:
        with open(manifest_path(path)) as f:
            return json.load(f).get("format") == SERVING_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def check_export_request(args: argparse.Namespace) -> None:
    """Every argument and path checked before the model is built."""
    read_description(args.checkpoint)
    for path in (args.output, manifest_path(args.output)):
        check_output(
            path,
            "--output",
            kind="file",
            owned=lambda p: is_serving_export(args.output),
            overwrite=args.overwrite,
            inputs=[args.checkpoint],
        )


def build_parser() -> argparse.ArgumentParser:
    p = CommandLineParser(
        prog="export.py",
        description="Export a checkpoint as one TorchScript file for serving, with a JSON "
        "manifest beside it.",
    )
    p.add_argument(
        "--checkpoint", required=True, help="a step_* or best/ checkpoint directory"
    )
    p.add_argument(
        "--output",
        required=True,
        help="model file (and <output>.json); replaced when it is an earlier export, "
        "refused when it is anything else",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace --output whatever it is"
    )
    p.add_argument(
        "--quantization",
        choices=sorted(QUANTIZATIONS),
        default="int8",
        help="embedding table quantisation",
    )
    return p


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    quiet_library_messages()
    check_export_request(args)
    manifest = export_for_serving(args.checkpoint, args.output, args.quantization)
    print(json.dumps({k: manifest[k] for k in ("checkpoint", "quantization")}))
    print(f"[export] model written to {os.path.abspath(args.output)}")


def run(argv: Optional[List[str]] = None) -> int:
    """``main`` with user errors as one line and exit status 2 (``launch/export.py``)."""
    return run_command(lambda: main(argv))
