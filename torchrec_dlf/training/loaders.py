"""The three input loaders of a training job (this rank's share of every split)."""

from dataclasses import dataclass

from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.data.parquet_loader import ParquetBatchLoader
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.train_config import TrainConfig


@dataclass
class SplitLoaders:
    """
    Args:
        train (ParquetBatchLoader): shuffled (``shuffle_batches``) training batches.
        valid (ParquetBatchLoader): the whole valid split, in order.
        test (ParquetBatchLoader): the whole test split, in order.
    """

    train: ParquetBatchLoader
    valid: ParquetBatchLoader
    test: ParquetBatchLoader


def build_loaders(
    dataset_dir: str,
    metadata: DatasetMetadata,
    ctx: DistributedContext,
    config: TrainConfig,
) -> SplitLoaders:
    """Loaders of ``config.batch_size`` (train) and ``config.eval_batch_size`` rows
    per rank, pinned for a CUDA device."""

    def loader(split: str, batch_size: int, mode: str) -> ParquetBatchLoader:
        return ParquetBatchLoader(
            dataset_dir,
            split,
            batch_size,
            rank=ctx.rank,
            world_size=ctx.world_size,
            mode=mode,
            shuffle=mode == "train" and config.shuffle_batches,
            seed=config.seed,
            drop_last=config.drop_last,
            shuffle_buffer_rows=config.shuffle_buffer_rows,
            pin_memory=ctx.device.type == "cuda",
            metadata=metadata,
        )

    return SplitLoaders(
        train=loader("train", config.batch_size, "train"),
        valid=loader("valid", config.eval_batch_size, "eval"),
        test=loader("test", config.eval_batch_size, "eval"),
    )
