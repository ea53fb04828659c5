"""The training job: DMP-sharded model, TrainPipelineSparseDist, early stopping, metrics."""

import itertools
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterator, List, Optional

import torch
import torchrec
from torchrec.datasets.utils import Batch
from torchrec.distributed import DistributedModelParallel
from torchrec.distributed.train_pipeline import TrainPipelineSparseDist

from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.data.parquet_loader import ParquetBatchLoader
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.early_stopping import EarlyStopping
from torchrec_dlf.training.metrics import binary_metrics, PredictionCollector
from torchrec_dlf.training.model_factory import (
    build_train_model,
    count_parameters,
    ModelConfig,
)
from torchrec_dlf.training.model_state import restore_state, snapshot_state
from torchrec_dlf.training.optimizers import apply_embedding_optimizer, build_optimizer
from torchrec_dlf.training.sharding import (
    describe_device,
    format_plan,
    fused_only_constraints,
    plan_sharding,
)


@dataclass
class TrainConfig:
    """Training-loop settings (names follow TorchRec's dlrm_main where they overlap)."""

    epochs: int = 1
    batch_size: int = 4096
    test_batch_size: Optional[int] = None
    learning_rate: float = 1e-3
    dense_optimizer: str = "adam"
    embedding_optimizer: str = "rowwise_adagrad"
    embedding_learning_rate: float = 0.05
    embedding_weight_decay: float = 0.0
    gradient_clip_norm: float = 10.0
    early_stop_patience: int = 2
    lr_decay_factor: float = 0.1
    validation_freq_within_epoch: Optional[int] = None
    limit_train_batches: Optional[int] = None
    limit_val_batches: Optional[int] = None
    limit_test_batches: Optional[int] = None
    shuffle_batches: bool = True
    drop_last: bool = False
    shuffle_buffer_rows: int = 65536
    seed: int = 2021
    print_progress: bool = True
    print_sharding_plan: bool = False
    output_dir: str = "results"
    run_name: Optional[str] = None


def _say(ctx: DistributedContext, *args: Any) -> None:
    if ctx.is_rank_zero:
        print(*args, flush=True)


class Trainer:
    """
    Trains a DLRM-style model (DLRM_DLF or a TorchRec baseline) on a prepared dataset:
    EBC built on the meta device and sharded by DistributedModelParallel from
    TorchRec's planner, fused in-backward optimizer for the tables and a clipped dense
    optimizer, TrainPipelineSparseDist for training and evaluation, exact AUC/logloss
    over the whole valid and test sets gathered across ranks, early stopping on
    validation AUC with learning-rate decay, test scored with the best validation
    weights, and a metrics JSON per run.

    Example::

        ctx = init_distributed()
        results = Trainer(ModelConfig(), TrainConfig(), "path/to/dataset", ctx).run()
    """

    def __init__(
        self,
        model_config: ModelConfig,
        train_config: TrainConfig,
        dataset_dir: str,
        ctx: DistributedContext,
    ) -> None:
        self.model_config = model_config
        self.config = train_config
        self.dataset_dir = dataset_dir
        self.ctx = ctx
        self.metadata = DatasetMetadata.read(dataset_dir)
        torch.manual_seed(train_config.seed)
        train_model = build_train_model(model_config, self.metadata, ctx.device)
        self.parameter_counts = {
            "non_embedding": count_parameters(train_model),
            "embedding": count_parameters(train_model, embeddings=True),
        }
        apply_embedding_optimizer(
            train_model.model.sparse_arch,
            train_config.embedding_optimizer,
            train_config.embedding_learning_rate,
            ctx.device,
            train_config.embedding_weight_decay,
        )
        self.plan = plan_sharding(
            train_model,
            ctx,
            train_config.batch_size,
            fused_only_constraints(
                train_model.model.sparse_arch.embedding_bag_collection.embedding_bag_configs()
            ),
        )
        if train_config.print_sharding_plan:
            _say(ctx, format_plan(self.plan))
        self.model = DistributedModelParallel(
            module=train_model, device=ctx.device, plan=self.plan
        )
        self.optimizer = build_optimizer(
            self.model,
            train_config.dense_optimizer,
            train_config.learning_rate,
            train_config.embedding_optimizer,
            train_config.embedding_learning_rate,
            train_config.gradient_clip_norm,
        )
        self.pipeline = TrainPipelineSparseDist(
            self.model, self.optimizer, ctx.device, execute_all_batches=True
        )
        self.stopper = EarlyStopping(
            patience=train_config.early_stop_patience,
            lr_decay_factor=train_config.lr_decay_factor,
        )
        self.train_loader = self._loader("train", train_config.batch_size, "train")
        eval_batch = train_config.test_batch_size or train_config.batch_size
        self.valid_loader = self._loader("valid", eval_batch, "eval")
        self.test_loader = self._loader("test", eval_batch, "eval")
        self.global_step = 0
        self._train_seconds = 0.0
        self._train_samples = 0

    def _loader(self, split: str, batch_size: int, mode: str) -> ParquetBatchLoader:
        return ParquetBatchLoader(
            self.dataset_dir,
            split,
            batch_size,
            rank=self.ctx.rank,
            world_size=self.ctx.world_size,
            mode=mode,
            shuffle=mode == "train" and self.config.shuffle_batches,
            seed=self.config.seed,
            drop_last=self.config.drop_last,
            shuffle_buffer_rows=self.config.shuffle_buffer_rows,
            pin_memory=self.ctx.device.type == "cuda",
            metadata=self.metadata,
        )

    # Training -----------------------------------------------------------------------

    def _train_segment(self, batches: Iterator[Batch], progress: Any) -> List[float]:
        """Runs the pipeline until ``batches`` is exhausted (the pipeline is drained)."""
        self.model.train()
        losses: List[float] = []
        start = time.perf_counter()
        while True:
            try:
                loss, _logits, labels = self.pipeline.progress(batches)
            except StopIteration:
                break
            self.global_step += 1
            self._train_samples += labels.numel() * self.ctx.world_size
            losses.append(loss.item())
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        self._train_seconds += time.perf_counter() - start
        return losses

    def evaluate(self, split: str) -> Dict[str, float]:
        loader = self.valid_loader if split == "valid" else self.test_loader
        limit = (
            self.config.limit_val_batches
            if split == "valid"
            else self.config.limit_test_batches
        )
        batches = iter(loader)
        if limit is not None:
            batches = itertools.islice(batches, limit)
        self.model.eval()
        collector = PredictionCollector()
        with torch.no_grad():
            while True:
                try:
                    _loss, logits, labels = self.pipeline.progress(batches)
                except StopIteration:
                    break
                collector.add(logits, labels)
        self.model.train()
        logits, labels = collector.gather(self.ctx.device)
        return binary_metrics(logits, labels)

    def run(self) -> Dict[str, Any]:
        cfg, ctx = self.config, self.ctx
        _say(
            ctx,
            f"[torchrec_dlf] {self.model_config.interaction_type} on "
            f"{self.metadata.name} ({self.dataset_dir}), {ctx.world_size} rank(s), "
            f"{describe_device(ctx.device)}/{ctx.backend}, non-embedding parameters "
            f"{self.parameter_counts['non_embedding']:,}",
        )
        started = time.perf_counter()
        best_state = None
        evaluations: List[Dict[str, Any]] = []
        stop = False
        for epoch in range(cfg.epochs):
            self.train_loader.set_epoch(epoch)
            num_batches = len(self.train_loader)
            if cfg.limit_train_batches is not None:
                num_batches = min(num_batches, cfg.limit_train_batches)
            epoch_batches = itertools.islice(iter(self.train_loader), num_batches)
            segment = cfg.validation_freq_within_epoch or num_batches
            progress = self._progress(epoch, num_batches)
            done = 0
            while done < num_batches and not stop:
                size = min(segment, num_batches - done)
                losses = self._train_segment(
                    itertools.islice(epoch_batches, size), progress
                )
                done += size
                valid = self.evaluate("valid")
                improved = self.stopper.update(
                    valid["auc"], self.optimizer, self.global_step
                )
                if improved:
                    best_state = snapshot_state(self.model)
                record = {
                    "epoch": epoch,
                    "step": self.global_step,
                    "train_loss": sum(losses) / max(len(losses), 1),
                    "valid": valid,
                    "improved": improved,
                    "lr": [g["lr"] for g in self.optimizer.param_groups],
                }
                evaluations.append(record)
                _say(
                    ctx,
                    f"epoch {epoch} step {self.global_step}: train loss "
                    f"{record['train_loss']:.5f}, valid AUC {valid['auc']:.5f}, logloss "
                    f"{valid['logloss']:.5f}{' (best)' if improved else ''}",
                )
                stop = self.stopper.should_stop
            if progress is not None:
                progress.close()
            if stop:
                _say(ctx, f"early stop after {self.stopper.bad_evaluations} evaluations without improvement")
                break
        if best_state is not None:
            restore_state(self.model, best_state)
        valid = self.evaluate("valid")
        test = self.evaluate("test")
        results = self._results(evaluations, valid, test, time.perf_counter() - started)
        self._report(results)
        return results

    def _progress(self, epoch: int, total: int) -> Any:
        if not (self.config.print_progress and self.ctx.is_rank_zero):
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc=f"epoch {epoch}", unit="batch", mininterval=2.0)

    # Reporting ----------------------------------------------------------------------

    def _results(
        self,
        evaluations: List[Dict[str, Any]],
        valid: Dict[str, float],
        test: Dict[str, float],
        wall_seconds: float,
    ) -> Dict[str, Any]:
        samples_per_second = (
            self._train_samples / self._train_seconds if self._train_seconds else 0.0
        )
        return {
            "model": asdict(self.model_config),
            "train": asdict(self.config),
            "dataset": {
                "dir": os.path.abspath(self.dataset_dir),
                "name": self.metadata.name,
                "rows": {k: v.rows for k, v in self.metadata.splits.items()},
            },
            "parameters": self.parameter_counts,
            "world_size": self.ctx.world_size,
            "device": describe_device(self.ctx.device),
            "backend": self.ctx.backend,
            "sharding_plan": format_plan(self.plan),
            "steps": self.global_step,
            "train_samples": self._train_samples,
            "train_seconds": self._train_seconds,
            "train_samples_per_second": samples_per_second,
            "wall_seconds": wall_seconds,
            "evaluations": evaluations,
            "best_valid_step": self.stopper.best_step,
            "valid": valid,
            "test": test,
            "versions": {
                "torch": torch.__version__,
                "torchrec": getattr(torchrec, "__version__", "unknown"),
                "python": platform.python_version(),
            },
        }

    def _report(self, results: Dict[str, Any]) -> None:
        if not self.ctx.is_rank_zero:
            return
        run_name = self.config.run_name or (
            f"{self.model_config.interaction_type}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
        out_dir = os.path.join(self.config.output_dir, run_name)
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, "metrics.json")
        with open(path + ".tmp", "w") as f:
            json.dump(results, f, indent=2, default=str)
        os.replace(path + ".tmp", path)
        results["metrics_path"] = os.path.abspath(path)
        v, t = results["valid"], results["test"]
        print(
            f"[torchrec_dlf] {self.model_config.interaction_type}: "
            f"valid AUC {v['auc']:.5f} logloss {v['logloss']:.5f} | "
            f"test AUC {t['auc']:.5f} logloss {t['logloss']:.5f} | "
            f"{results['train_samples_per_second']:,.0f} samples/s | "
            f"non-embedding params {results['parameters']['non_embedding']:,}\n"
            f"[torchrec_dlf] metrics written to {os.path.abspath(path)}",
            flush=True,
        )
