"""Scores a prepared split with a trained (sharded) model, on any number of ranks."""

import os
import shutil
from typing import Dict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.distributed as dist

from torchrec_dlf.data.batching import PADDING_LABEL
from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.data.parquet_loader import ParquetBatchLoader
from torchrec_dlf.inference.checkpoint_model import (
    check_vocabulary,
    load_model_weights,
    model_config,
    read_description,
)
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.model_factory import build_train_model
from torchrec_dlf.training.optimizers import apply_embedding_optimizer
from torchrec_dlf.training.parallel import shard_model
from torchrec_dlf.training.sharding import build_sharding_plan

EBC_PATH = "model.sparse_arch.embedding_bag_collection"
PREDICTION_SCHEMA = pa.schema(
    [
        pa.field("row_index", pa.int64()),
        pa.field("label", pa.int8()),
        pa.field("logit", pa.float32()),
        pa.field("probability", pa.float32()),
    ]
)


def predict_split(
    checkpoint: str,
    dataset_dir: str,
    split: str,
    output_dir: str,
    ctx: DistributedContext,
    batch_size: int = 8192,
    sharding: str = "auto",
) -> Dict[str, int]:
    """
    Writes ``output_dir/part-<rank>.parquet`` with the split-wide ``row_index`` of every
    row of ``split``, its label, logit and predicted probability. The model is rebuilt
    from the checkpoint's description, sharded over the current ranks (the checkpoint
    may come from any number of ranks) and the rows are split between ranks as in
    evaluation. The directory appears only when every rank has written its part.
    """
    description = read_description(checkpoint)
    metadata = DatasetMetadata.read(dataset_dir)
    check_vocabulary(description, metadata)
    model = build_train_model(
        model_config(description),
        metadata,
        ctx.device,
        dense_precision=description.get("dense_precision", "fp32"),
    )
    # Fused kernels, as in training (the optimizer never steps here).
    apply_embedding_optimizer(model.model.sparse_arch, "sgd", 0.0, ctx.device)
    plan = build_sharding_plan(model, EBC_PATH, ctx, sharding, batch_size)
    sharded = shard_model(model, plan, ctx.device)
    load_model_weights(checkpoint, sharded)
    sharded.eval()

    loader = ParquetBatchLoader(
        dataset_dir, split, batch_size, ctx.rank, ctx.world_size, mode="eval",
        metadata=metadata, pin_memory=ctx.device.type == "cuda",
    )
    first_row, _ = loader.row_range()
    columns: Dict[str, list] = {name: [] for name in PREDICTION_SCHEMA.names}
    seen = 0
    with torch.no_grad():
        for batch in loader:
            batch = batch.to(ctx.device, non_blocking=True)
            _, (_, logits, labels) = sharded(batch)
            labels = labels.cpu().numpy()
            real = labels != PADDING_LABEL
            n = int(real.sum())
            logits = logits.float().cpu().numpy()[real]
            columns["row_index"].append(np.arange(first_row + seen, first_row + seen + n))
            columns["label"].append(labels[real].astype(np.int8))
            columns["logit"].append(logits.astype(np.float32))
            columns["probability"].append((1.0 / (1.0 + np.exp(-logits))).astype(np.float32))
            seen += n
    table = pa.Table.from_arrays(
        [
            pa.array(np.concatenate(columns[name]) if columns[name] else np.empty(0), type=field.type)
            for name, field in zip(PREDICTION_SCHEMA.names, PREDICTION_SCHEMA)
        ],
        schema=PREDICTION_SCHEMA,
    )
    tmp = output_dir.rstrip("/") + ".tmp"
    if ctx.is_rank_zero:
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
    dist.barrier()
    pq.write_table(table, os.path.join(tmp, f"part-{ctx.rank:05d}.parquet"))
    dist.barrier()
    if ctx.is_rank_zero:
        if os.path.exists(output_dir):
            shutil.rmtree(output_dir)
        os.rename(tmp, output_dir)
    dist.barrier()
    return {"rows": seen, "first_row": first_row}
