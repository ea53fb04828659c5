"""Scores a prepared split with a trained (sharded) model, on any number of ranks."""

import argparse
import json
import os
from typing import Any, Dict, Iterable, List, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.distributed as dist
from torchrec.datasets.utils import Batch

from torchrec_dlf.data.batching import PADDING_LABEL
from torchrec_dlf.data.metadata import SPLITS, DatasetMetadata
from torchrec_dlf.data.parquet_loader import ParquetBatchLoader
from torchrec_dlf.inference.checkpoint_model import (
    check_vocabulary,
    load_model_weights,
    model_config,
    read_description,
)
from torchrec_dlf.safe_output import (
    check_output,
    discard,
    publish,
    remove_stale_siblings,
    temp_sibling,
)
from torchrec_dlf.training.distributed import (
    DistributedContext,
    destroy_distributed,
    init_distributed,
)
from torchrec_dlf.training.quiet import quiet_library_messages
from torchrec_dlf.training.sharded_model import build_sharded_model
from torchrec_dlf.training.sharding import SHARDING_CHOICES
from torchrec_dlf.user_errors import (
    CommandLineParser,
    ConfigError,
    OutputError,
    UserError,
    mark_before_process_group,
    run_command,
)

MANIFEST_FILE = "_predictions.json"  # "_": skipped by pyarrow.dataset readers
PREDICTIONS_FORMAT = "torchrec_dlf.predictions"
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
    evaluation. The directory appears only when every rank has written its part (see
    `torchrec_dlf.safe_output`), with a ``_predictions.json`` manifest.
    """
    metadata = DatasetMetadata.read(dataset_dir)
    sharded = load_sharded_model(
        checkpoint, dataset_dir, metadata, ctx, batch_size, sharding
    )
    loader = ParquetBatchLoader(
        dataset_dir,
        split,
        batch_size,
        ctx.rank,
        ctx.world_size,
        mode="eval",
        metadata=metadata,
        pin_memory=ctx.device.type == "cuda",
    )
    first_row, _ = loader.row_range()
    table = score_rows(sharded, loader, first_row, ctx.device)
    _publish_parts(
        table,
        output_dir,
        ctx,
        {
            "format": PREDICTIONS_FORMAT,
            "checkpoint": os.path.abspath(checkpoint),
            "dataset_dir": os.path.abspath(dataset_dir),
            "dataset_identity": metadata.identity,
            "split": split,
            "rows": metadata.split(split).rows,
            "world_size": ctx.world_size,
        },
    )
    return {"rows": table.num_rows, "first_row": first_row}


def load_sharded_model(
    checkpoint: str,
    dataset_dir: str,
    metadata: DatasetMetadata,
    ctx: DistributedContext,
    batch_size: int,
    sharding: str,
) -> torch.nn.Module:
    """The checkpoint's model, sharded over the current ranks, in eval mode."""
    description = read_description(checkpoint)
    check_vocabulary(description, metadata, checkpoint, dataset_dir)
    sharded = build_sharded_model(
        model_config(description),
        metadata,
        ctx,
        batch_size,
        sharding=sharding,
        dense_precision=description.get("dense_precision", "fp32"),
    ).model
    load_model_weights(checkpoint, sharded)
    sharded.eval()
    return sharded


def score_rows(
    model: torch.nn.Module,
    batches: Iterable[Batch],
    first_row: int,
    device: torch.device,
) -> pa.Table:
    """
    A `PREDICTION_SCHEMA` table of the real (not padding) rows of ``batches``, the
    i-th of them numbered ``first_row + i``.
    """
    columns: Dict[str, list] = {name: [] for name in PREDICTION_SCHEMA.names}
    seen = 0
    with torch.no_grad():
        for batch in batches:
            batch = batch.to(device, non_blocking=True)
            _, (_, logits, labels) = model(batch)
            labels = labels.cpu().numpy()
            real = labels != PADDING_LABEL
            n = int(real.sum())
            logits = logits.float().cpu().numpy()[real]
            columns["row_index"].append(
                np.arange(first_row + seen, first_row + seen + n)
            )
            columns["label"].append(labels[real].astype(np.int8))
            columns["logit"].append(logits.astype(np.float32))
            columns["probability"].append(
                (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
            )
            seen += n
    return pa.Table.from_arrays(
        [
            pa.array(
                np.concatenate(columns[name]) if columns[name] else np.empty(0),
                type=field.type,
            )
            for name, field in zip(PREDICTION_SCHEMA.names, PREDICTION_SCHEMA)
        ],
        schema=PREDICTION_SCHEMA,
    )


def _publish_parts(
    table: pa.Table, output_dir: str, ctx: DistributedContext, manifest: Dict[str, Any]
) -> None:
    """Every rank writes its part into one temporary directory; rank 0 publishes it."""
    names = [temp_sibling(output_dir, "tmp") if ctx.is_rank_zero else ""]
    if dist.is_initialized():
        dist.broadcast_object_list(names, src=0)
    tmp = names[0]
    error: Optional[OSError] = None
    if ctx.is_rank_zero:
        remove_stale_siblings(output_dir)
        try:
            os.makedirs(tmp)
        except OSError as e:
            error = e
    _barrier()
    if error is None and os.path.isdir(tmp):
        try:
            pq.write_table(table, os.path.join(tmp, f"part-{ctx.rank:05d}.parquet"))
        except OSError as e:
            error = e
    elif error is None:
        error = FileNotFoundError(f"{tmp} was not created")
    failed = torch.tensor([0.0 if error is None else 1.0])
    if dist.is_initialized():
        dist.all_reduce(failed)
    if failed.item():
        _barrier()
        if ctx.is_rank_zero:
            discard(tmp)
        reason = f" ({error})" if error is not None else " on another rank"
        raise OutputError(
            f"--output {output_dir}: writing the predictions failed{reason}"
        )
    if ctx.is_rank_zero:
        with open(os.path.join(tmp, MANIFEST_FILE), "w") as f:
            json.dump(manifest, f, indent=2)
        publish(tmp, output_dir)
    _barrier()


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def is_prediction_output(path: str) -> bool:
    """Whether ``path`` is a directory of predictions written by `predict_split`."""
    try:
        with open(os.path.join(path, MANIFEST_FILE)) as f:
            return json.load(f).get("format") == PREDICTIONS_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def check_prediction_request(args: argparse.Namespace) -> None:
    """Every argument and path checked before any process group or model exists."""
    if args.batch_size < 1:
        raise ConfigError(f"--batch_size must be >= 1, got {args.batch_size}")
    description = read_description(args.checkpoint)
    if not os.path.isdir(args.dataset_dir):
        raise ConfigError(f"--dataset_dir {args.dataset_dir}: no such directory")
    metadata = DatasetMetadata.read(args.dataset_dir)
    if metadata.split(args.split).rows == 0:
        raise ConfigError(
            f"--dataset_dir {args.dataset_dir}: split {args.split!r} has no rows"
        )
    check_vocabulary(description, metadata, args.checkpoint, args.dataset_dir)
    check_output(
        args.output,
        "--output",
        kind="dir",
        owned=is_prediction_output,
        overwrite=args.overwrite,
        inputs=[args.checkpoint, args.dataset_dir],
    )


def build_parser() -> argparse.ArgumentParser:
    p = CommandLineParser(
        prog="predict.py",
        description="Batch prediction from a checkpoint: Parquet with row_index, label, "
        "logit and probability.",
    )
    p.add_argument(
        "--checkpoint", required=True, help="a step_* or best/ checkpoint directory"
    )
    p.add_argument("--dataset_dir", required=True, help="prepared dataset to score")
    p.add_argument("--split", choices=SPLITS, default="test", help="split to score")
    p.add_argument(
        "--output",
        required=True,
        help="output directory (part-<rank>.parquet and _predictions.json); replaced "
        "atomically when it holds earlier predictions, refused when it holds anything else",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace --output whatever it holds"
    )
    p.add_argument(
        "--batch_size", type=int, default=8192, help="rows per batch and rank"
    )
    p.add_argument(
        "--sharding", choices=SHARDING_CHOICES, default="auto", help="table sharding"
    )
    p.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto", help="device"
    )
    return p


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    quiet_library_messages()
    try:
        check_prediction_request(args)
    except UserError as e:
        raise mark_before_process_group(e)
    ctx = init_distributed(args.device)
    try:
        stats = predict_split(
            args.checkpoint,
            args.dataset_dir,
            args.split,
            args.output,
            ctx,
            args.batch_size,
            args.sharding,
        )
        print(
            f"[predict] rank {ctx.rank}: {stats['rows']} rows from row {stats['first_row']}",
            flush=True,
        )
        if ctx.is_rank_zero:
            print(
                f"[predict] predictions written to {os.path.abspath(args.output)}",
                flush=True,
            )
    finally:
        destroy_distributed()


def run(argv: Optional[List[str]] = None) -> int:
    """``main`` with user errors as one line and exit status 2 (``launch/predict.py``)."""
    return run_command(lambda: main(argv))
