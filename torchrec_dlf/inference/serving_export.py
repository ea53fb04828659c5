"""Exports a trained model as one TorchScript file for serving: unsharded, with int8
embedding tables (TorchRec's inference quantisation) and a scripted dense part."""

import json
import os
from typing import Any, Dict

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
from torchrec_dlf.training.model_factory import build_train_model

QUANTIZATIONS = {"int8": torch.qint8, "none": None}


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
        raise ValueError(f"quantization must be one of {sorted(QUANTIZATIONS)}")
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
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    tmp = output_path + ".tmp"
    torch.jit.save(scripted, tmp)
    os.replace(tmp, output_path)
    manifest = {
        "checkpoint": os.path.abspath(checkpoint),
        "quantization": quantization,
        "inputs": {
            "dense_features": description["dataset"]["numeric"],
            "sparse_features": description["dataset"]["categorical"],
        },
        "vocab_sizes": description["dataset"]["vocab_sizes"],
        "model_config": description["model_config"],
        "output": "logit",
    }
    with open(output_path + ".json", "w") as f:
        json.dump(manifest, f, indent=2)
    return manifest
