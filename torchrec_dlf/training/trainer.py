"""The training job: DMP-sharded model, TrainPipelineSparseDist, early stopping, metrics."""

import itertools
import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, Iterator, List, Optional

import torch
import torchrec
from torchrec.datasets.utils import Batch
from torchrec.distributed.train_pipeline import TrainPipelineSparseDist

from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.data.parquet_loader import ParquetBatchLoader
from torchrec_dlf.safe_output import write_text_atomically
from torchrec_dlf.training.checkpoint import (
    CheckpointManager,
    DamagedCheckpoint,
    read_checkpoint_state,
)
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.early_stopping import EarlyStopping
from torchrec_dlf.training.embedding_regularization import (
    EMBEDDING_L2_MODES,
    fbgemm_decay_kwargs,
)
from torchrec_dlf.training.gradient_norms import GradientNormTracker
from torchrec_dlf.training.metrics import PredictionCollector, binary_metrics
from torchrec_dlf.training.model_description import (
    check_dataset,
    check_model_config,
    describe_model,
)
from torchrec_dlf.training.model_factory import (
    ModelConfig,
)
from torchrec_dlf.training.model_state import restore_state, snapshot_state
from torchrec_dlf.training.optimizers import build_optimizer
from torchrec_dlf.training.sharded_model import build_sharded_model
from torchrec_dlf.training.sharding import (
    describe_device,
    format_plan,
)
from torchrec_dlf.user_errors import ConfigError, TrainingDiverged


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
    embedding_l2: float = 0.0
    embedding_l2_mode: str = "lookup"
    embedding_decay_every: int = 1
    embedding_decay_kernel: str = "trainer"
    data_parallel_max_rows: int = 0
    data_parallel_embedding_optimizer: Optional[str] = None
    data_parallel_embedding_learning_rate: Optional[float] = None
    dense_precision: str = "fp32"
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
    sharding: str = "auto"
    planner_sharding_types: Optional[List[str]] = None
    output_dir: str = "results"
    run_name: Optional[str] = None
    checkpoint_dir: Optional[str] = None
    checkpoint_every_n_steps: Optional[int] = None
    keep_last_checkpoints: int = 2
    resume: str = "auto"
    stop_after_steps: Optional[int] = None
    gradient_norm_every: int = 0


class TrainingInterrupted(Exception):
    """Raised by ``stop_after_steps``: the job stops as if preempted, after a checkpoint."""

    def __init__(self, step: int) -> None:
        super().__init__(f"stopped after step {step}")
        self.step = step


@dataclass
class TrainerState:
    """Where training stands; saved in every checkpoint."""

    epoch: int = 0
    batch_in_epoch: int = 0
    global_step: int = 0
    train_samples: int = 0
    train_seconds: float = 0.0
    stopped: bool = False
    # Training loss accumulated since the last validation (reported with it).
    loss_sum: float = 0.0
    loss_count: int = 0
    evaluations: List[Dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, raw: Dict[str, Any]) -> "TrainerState":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})


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
        cfg = train_config
        if cfg.embedding_l2_mode not in EMBEDDING_L2_MODES:
            raise ConfigError(
                f"embedding_l2_mode must be one of {EMBEDDING_L2_MODES}, got "
                f"{cfg.embedding_l2_mode!r}"
            )
        fused_in_kernel = (
            cfg.embedding_decay_kernel == "fbgemm" and cfg.embedding_l2 > 0
        )
        built = build_sharded_model(
            model_config,
            self.metadata,
            ctx,
            cfg.batch_size,
            sharding=cfg.sharding,
            planner_sharding_types=cfg.planner_sharding_types,
            data_parallel_max_rows=cfg.data_parallel_max_rows,
            embedding_optimizer=cfg.embedding_optimizer,
            embedding_learning_rate=cfg.embedding_learning_rate,
            fused_kwargs=fbgemm_decay_kwargs(
                cfg.embedding_l2_mode,
                cfg.embedding_l2,
                cfg.embedding_optimizer,
                ctx.device,
            )
            if fused_in_kernel
            else None,
            embedding_l2=cfg.embedding_l2 if cfg.embedding_l2_mode == "lookup" else 0.0,
            dense_precision=cfg.dense_precision,
        )
        train_model, self.plan, self.model = built.unsharded, built.plan, built.model
        self.parameter_counts = built.parameter_counts
        if train_config.print_sharding_plan:
            _say(ctx, format_plan(self.plan))
        self.optimizer = build_optimizer(
            self.model,
            cfg.dense_optimizer,
            cfg.learning_rate,
            cfg.embedding_optimizer,
            cfg.embedding_learning_rate,
            cfg.gradient_clip_norm,
            replicated_embedding_optimizer=cfg.data_parallel_embedding_optimizer,
            replicated_embedding_learning_rate=cfg.data_parallel_embedding_learning_rate,
            embedding_l2_mode=cfg.embedding_l2_mode,
            embedding_l2=cfg.embedding_l2,
            embedding_decay_every=cfg.embedding_decay_every,
            fused_decay_in_kernel=fused_in_kernel,
        )
        self.gradient_norms: Optional[GradientNormTracker] = None
        if train_config.gradient_norm_every > 0:
            train_model.track_embedding_gradient = True
            self.gradient_norms = GradientNormTracker(
                self.optimizer,
                self.model,
                train_model,
                train_config.gradient_norm_every,
            )
        self.pipeline = TrainPipelineSparseDist(
            self.model,
            self.gradient_norms or self.optimizer,
            ctx.device,
            execute_all_batches=True,
        )
        self.stopper = EarlyStopping(
            patience=train_config.early_stop_patience,
            lr_decay_factor=train_config.lr_decay_factor,
        )
        self.train_loader = self._loader("train", train_config.batch_size, "train")
        eval_batch = train_config.test_batch_size or train_config.batch_size
        self.valid_loader = self._loader("valid", eval_batch, "eval")
        self.test_loader = self._loader("test", eval_batch, "eval")
        self.state = TrainerState()
        self.checkpoints = (
            CheckpointManager(
                train_config.checkpoint_dir, train_config.keep_last_checkpoints
            )
            if train_config.checkpoint_dir
            else None
        )
        self._best_snapshot: Optional[Dict[str, List[torch.Tensor]]] = None
        self.run_name = train_config.run_name or (
            f"{model_config.interaction_type}-{time.strftime('%Y%m%d-%H%M%S')}"
        )

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

    @property
    def global_step(self) -> int:
        return self.state.global_step

    def _train_segment(self, batches: Iterator[Batch], progress: Any) -> None:
        """Runs the pipeline until ``batches`` is exhausted (the pipeline is drained)."""
        self.model.train()
        start = time.perf_counter()
        while True:
            try:
                loss, _logits, labels = self.pipeline.progress(batches)
            except StopIteration:
                break
            self.state.global_step += 1
            self.state.train_samples += labels.numel() * self.ctx.world_size
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"train loss is {value} at step {self.state.global_step} (epoch "
                    f"{self.state.epoch}): training diverged; lower --learning_rate, "
                    f"check the numeric fields' ranges in "
                    f"{os.path.join(self.dataset_dir, 'metadata.json')} or transform them"
                )
            self.state.loss_sum += value
            self.state.loss_count += 1
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{value:.4f}", refresh=False)
        self.state.train_seconds += time.perf_counter() - start

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

    def _epoch_batches(self) -> int:
        n = len(self.train_loader)
        if self.config.limit_train_batches is not None:
            n = min(n, self.config.limit_train_batches)
        return n

    def _next_boundary(self, done: int, num_batches: int) -> int:  # noqa: C901
        """End of the next training segment: a validation point, a checkpoint step or
        the end of the epoch, whichever comes first (the pipeline drains there, in an
        uninterrupted run and in a resumed one alike)."""
        end = num_batches
        every = self.config.validation_freq_within_epoch
        if every:
            end = min(end, (done // every + 1) * every)
        ckpt_every = self.config.checkpoint_every_n_steps if self.checkpoints else None
        if ckpt_every:
            to_ckpt = ckpt_every - self.state.global_step % ckpt_every
            end = min(end, done + to_ckpt)
        stop = self.config.stop_after_steps
        if stop is not None and stop > self.state.global_step:
            end = min(end, done + stop - self.state.global_step)
        return end

    def _validation_due(self, done: int, num_batches: int) -> bool:
        every = self.config.validation_freq_within_epoch
        return done == num_batches or bool(every and done % every == 0)

    def _checkpoint_due(self, done: int, num_batches: int) -> bool:
        every = self.config.checkpoint_every_n_steps
        if self.checkpoints is None:
            return False
        return done == num_batches or bool(
            every and self.state.global_step % every == 0
        )

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
        self._maybe_resume()
        while self.state.epoch < cfg.epochs and not self.state.stopped:
            self._run_epoch()
        self._restore_best()
        valid = self.evaluate("valid")
        test = self.evaluate("test")
        results = self._results(
            self.state.evaluations, valid, test, time.perf_counter() - started
        )
        self._report(results)
        return results

    def _run_epoch(self) -> None:
        state, cfg = self.state, self.config
        epoch = state.epoch
        self.train_loader.set_epoch(epoch)
        num_batches = self._epoch_batches()
        done = min(state.batch_in_epoch, num_batches)
        batches = self.train_loader.iterate(start_batch=done)
        progress = self._progress(epoch, num_batches, done)
        while done < num_batches:
            end = self._next_boundary(done, num_batches)
            self._train_segment(itertools.islice(batches, end - done), progress)
            done = end
            state.batch_in_epoch = done
            if self._validation_due(done, num_batches):
                self._validate(epoch)
            if done == num_batches or state.stopped:
                state.epoch, state.batch_in_epoch = epoch + 1, 0
            interrupt = (
                cfg.stop_after_steps is not None
                and state.global_step >= cfg.stop_after_steps
            )
            if (
                self._checkpoint_due(done, num_batches)
                or (state.stopped and self.checkpoints)
                or (interrupt and self.checkpoints)
            ):
                self._save_checkpoint()
            if interrupt:
                raise TrainingInterrupted(state.global_step)
            if state.stopped:
                break
        if progress is not None:
            progress.close()
        if num_batches == 0:
            state.epoch += 1

    def _validate(self, epoch: int) -> None:
        state = self.state
        valid = self.evaluate("valid")
        improved = self.stopper.update(valid["auc"], self.optimizer, state.global_step)
        if improved:
            self._keep_best()
        record = {
            "epoch": epoch,
            "step": state.global_step,
            "train_loss": state.loss_sum / max(state.loss_count, 1),
            "valid": valid,
            "improved": improved,
            "lr": [g["lr"] for g in self.optimizer.param_groups],
        }
        state.evaluations.append(record)
        state.loss_sum, state.loss_count = 0.0, 0
        _say(
            self.ctx,
            f"epoch {epoch} step {state.global_step}: train loss "
            f"{record['train_loss']:.5f}, valid AUC {valid['auc']:.5f}, logloss "
            f"{valid['logloss']:.5f}{' (best)' if improved else ''}",
        )
        if self.stopper.should_stop:
            state.stopped = True
            _say(
                self.ctx,
                f"early stop after {self.stopper.bad_evaluations} evaluations "
                "without improvement",
            )

    # Best model and checkpoints -----------------------------------------------------

    def _keep_best(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.save_best(
                self.model, {"step": self.state.global_step, **self.model_description()}
            )
        else:
            self._best_snapshot = snapshot_state(self.model)

    def _restore_best(self) -> None:
        if self.stopper.best_step < 0:
            return
        if self._best_snapshot is not None:
            restore_state(self.model, self._best_snapshot)
        elif self.checkpoints is not None and self.checkpoints.has_best():
            self.checkpoints.load_best(self.model)

    def model_description(self) -> Dict[str, Any]:
        """What is needed to rebuild the model from a checkpoint (predict, export)."""
        return describe_model(
            self.model_config,
            self.config.dense_precision,
            self.metadata,
            self.dataset_dir,
        )

    def _trainer_state(self) -> Dict[str, Any]:
        return {
            **asdict(self.state),
            **self.model_description(),
            "stopper": self.stopper.state_dict(),
            "learning_rates": [g["lr"] for g in self.optimizer.param_groups],
        }

    def _save_checkpoint(self) -> None:
        assert self.checkpoints is not None
        path = self.checkpoints.save(
            self.state.global_step, self.model, self.optimizer, self._trainer_state()
        )
        _say(self.ctx, f"checkpoint written: {path}")

    def _maybe_resume(self) -> None:
        cfg = self.config
        if self.checkpoints is None or cfg.resume == "never":
            if cfg.resume not in ("auto", "never"):
                raise ConfigError("--resume <path> needs --checkpoint_dir")
            return
        if cfg.resume != "auto":
            self._resume_from(cfg.resume)
            return
        steps = self.checkpoints.steps()
        for step in reversed(steps):
            path = self.checkpoints.step_path(step)
            try:
                self._resume_from(path)
                return
            except DamagedCheckpoint as e:
                _say(self.ctx, f"warning: {e}; trying the previous checkpoint")
        if steps:
            raise DamagedCheckpoint(
                f"--checkpoint_dir {self.checkpoints.directory}: no intact checkpoint "
                f"among steps {steps}; remove them or pass --resume never"
            )

    def _resume_from(self, path: str) -> None:
        """Continues from the step checkpoint at ``path`` after checking it fits."""
        assert self.checkpoints is not None
        saved = read_checkpoint_state(path)
        check_model_config(saved, self.model_config, path)
        check_dataset(saved, self.metadata, path, self.dataset_dir)
        loaded = self.checkpoints.load(path, self.model, self.optimizer)
        self.state = TrainerState.from_dict(saved)
        self.stopper.load_state_dict(saved["stopper"])
        for group, lr in zip(self.optimizer.param_groups, saved["learning_rates"]):
            group["lr"] = lr
        if loaded.world_size != self.ctx.world_size and self.state.batch_in_epoch:
            # Rank shares of an epoch depend on the world size: continue from the same
            # fraction of the epoch (exact continuation needs the same world size).
            self.state.batch_in_epoch = (
                self.state.batch_in_epoch * loaded.world_size // self.ctx.world_size
            )
        _say(
            self.ctx,
            f"resumed from {path} (step {loaded.step}, epoch {self.state.epoch}, batch "
            f"{self.state.batch_in_epoch}, saved by {loaded.world_size} rank(s))",
        )

    def _progress(self, epoch: int, total: int, done: int = 0) -> Any:
        if not (self.config.print_progress and self.ctx.is_rank_zero):
            return None
        from tqdm import tqdm

        return tqdm(
            total=total,
            initial=done,
            desc=f"epoch {epoch}",
            unit="batch",
            mininterval=2.0,
        )

    # Reporting ----------------------------------------------------------------------

    def _results(
        self,
        evaluations: List[Dict[str, Any]],
        valid: Dict[str, float],
        test: Dict[str, float],
        wall_seconds: float,
    ) -> Dict[str, Any]:
        state = self.state
        samples_per_second = (
            state.train_samples / state.train_seconds if state.train_seconds else 0.0
        )
        best = next(
            (e for e in evaluations if e["step"] == self.stopper.best_step), None
        )
        return {
            "run_name": self.run_name,
            "model": self.model_config.used_settings(),
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
            "steps": state.global_step,
            "epochs_completed": state.epoch,
            "train_samples": state.train_samples,
            "train_seconds": state.train_seconds,
            "train_samples_per_second": samples_per_second,
            "wall_seconds": wall_seconds,
            "evaluations": evaluations,
            "gradient_norms": (
                {
                    "history": dict(self.gradient_norms.history),
                    **self.gradient_norms.summary(),
                }
                if self.gradient_norms is not None
                else None
            ),
            "best_valid_step": self.stopper.best_step,
            "best_epoch": best["epoch"] if best is not None else None,
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
        out_dir = os.path.join(self.config.output_dir, self.run_name)
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, "metrics.json")
        write_text_atomically(path, json.dumps(results, indent=2, default=str))
        results["metrics_path"] = os.path.abspath(path)
        v, t = results["valid"], results["test"]
        print(
            f"[torchrec_dlf] {self.run_name} ({self.model_config.interaction_type}): "
            f"valid AUC {v['auc']:.5f} logloss {v['logloss']:.5f} | "
            f"test AUC {t['auc']:.5f} logloss {t['logloss']:.5f} | "
            f"{results['train_samples_per_second']:,.0f} samples/s | "
            f"non-embedding params {results['parameters']['non_embedding']:,}\n"
            f"[torchrec_dlf] metrics written to {os.path.abspath(path)}",
            flush=True,
        )
