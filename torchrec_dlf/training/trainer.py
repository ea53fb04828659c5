"""The training job: the parts of `training` wired into one run (`Trainer`)."""

import itertools
import math
import os
import time
from dataclasses import asdict
from typing import Any, Dict, Iterator, Optional

import torch
from torchrec.datasets.utils import Batch
from torchrec.distributed.train_pipeline import TrainPipelineSparseDist

from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.data.parquet_loader import ParquetBatchLoader
from torchrec_dlf.training.best_weights import BestWeights
from torchrec_dlf.training.checkpoint import CheckpointManager
from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.early_stopping import EarlyStopping
from torchrec_dlf.training.evaluation import evaluate
from torchrec_dlf.training.gradient_norms import GradientNormTracker
from torchrec_dlf.training.loaders import build_loaders
from torchrec_dlf.training.log_interval import LogInterval
from torchrec_dlf.training.lr_schedule import LRScheduler, schedule_from_config
from torchrec_dlf.training.model_config import ModelConfig
from torchrec_dlf.training.model_description import describe_model
from torchrec_dlf.training.optimizers import build_train_optimizer, param_group_labels
from torchrec_dlf.training.profiling import StepProfiler, profile_dir
from torchrec_dlf.training.rec_metrics import (
    build_rec_metrics,
    compute_rec_metrics,
    update_rec_metrics,
)
from torchrec_dlf.training.report import (
    build_results,
    progress_bar,
    run_banner,
    say,
    train_progress_line,
    write_report,
)
from torchrec_dlf.training.resume import (
    ResumePoint,
    find_resume_point,
    load_resume_point,
)
from torchrec_dlf.training.sharded_model import build_training_model
from torchrec_dlf.training.sharding import format_plan
from torchrec_dlf.training.step_schedule import StepSchedule, rescaled_batch_in_epoch
from torchrec_dlf.training.tensorboard_log import TensorBoardLog, tensorboard_dir
from torchrec_dlf.training.train_config import TrainConfig
from torchrec_dlf.training.train_state import TrainerState, TrainingInterrupted
from torchrec_dlf.user_errors import TrainingDiverged

# Where these lived before the trainer was split up (the CLI imports them from here).
__all__ = ["TrainConfig", "Trainer", "TrainerState", "TrainingInterrupted"]


class Trainer:
    """
    Trains a DLRM-style model (DLRM_DLF or a TorchRec baseline) on a prepared dataset:
    EBC built on the meta device and sharded by DistributedModelParallel from
    TorchRec's planner (`build_sharded_model`), fused in-backward optimizer for the
    tables and a clipped dense optimizer, TrainPipelineSparseDist for training and
    evaluation, exact AUC/logloss over the whole valid and test sets gathered across
    ranks (with TorchRec's NE and calibration), early stopping on validation AUC, a
    learning-rate schedule (warmup, then a decay on plateau or by step) for the dense
    and the fused embedding optimizers alike, test scored with the best validation
    weights, and a metrics JSON per run.

    The trainer wires the parts: `StepSchedule` says where segments end and what is
    due there, `LRScheduler` sets every learning rate before each step, `evaluate`
    scores a split, `EarlyStopping` and `BestWeights` follow the validations,
    TorchRec's `RecMetricModule` keeps windowed train metrics (NE, AUC, calibration,
    CTR) for the progress line and TensorBoard (`TensorBoardLog`, rank 0),
    `StepProfiler` traces a few steps, `CheckpointManager` and `find_resume_point`
    save and resume, and `build_results`/`write_report` report.

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
        cfg = train_config
        self.model_config, self.config = model_config, cfg
        self.dataset_dir, self.ctx = dataset_dir, ctx
        self.metadata = DatasetMetadata.read(dataset_dir)
        torch.manual_seed(cfg.seed)  # before the dense parameters are initialised
        built = build_training_model(model_config, cfg, self.metadata, ctx)
        self.model, self.plan = built.model, built.plan
        self.parameter_counts = built.parameter_counts
        if cfg.print_sharding_plan and cfg.sharding != "auto":
            # With auto, the planner printed its own stats table while planning.
            say(ctx, format_plan(self.plan))
        self.optimizer = build_train_optimizer(self.model, cfg)
        self.gradient_norms: Optional[GradientNormTracker] = None
        if cfg.gradient_norm_every > 0:
            self.gradient_norms = GradientNormTracker(
                self.optimizer, self.model, built.unsharded, cfg.gradient_norm_every
            )
        self.pipeline = TrainPipelineSparseDist(
            self.model,
            self.gradient_norms or self.optimizer,
            ctx.device,
            execute_all_batches=True,
        )
        # The decay on plateau is the learning-rate schedule's (`LRScheduler`).
        self.stopper = EarlyStopping(
            patience=cfg.early_stop_patience, lr_decay_factor=1.0
        )
        self.loaders = build_loaders(dataset_dir, self.metadata, ctx, cfg)
        self.state = TrainerState()
        self.checkpoints: Optional[CheckpointManager] = None
        if cfg.checkpoint_dir:
            self.checkpoints = CheckpointManager(
                cfg.checkpoint_dir, cfg.keep_last_checkpoints
            )
        self.schedule = StepSchedule(
            validation_every=cfg.validation_freq_within_epoch,
            checkpoint_every=cfg.checkpoint_every_n_steps,
            checkpoints=self.checkpoints is not None,
            stop_after=cfg.stop_after_steps,
            limit_batches=cfg.limit_train_batches,
        )
        total_steps = cfg.epochs * self.schedule.epoch_batches(len(self.loaders.train))
        self.lr_scheduler = LRScheduler(
            self.optimizer, schedule_from_config(cfg, total_steps)
        )
        self.lr_labels = param_group_labels(self.optimizer, self.model.fused_optimizer)
        self.train_metrics = build_rec_metrics(
            ctx.device, cfg.batch_size, window_size=cfg.metrics_window_size
        )
        self.interval = LogInterval()
        self.tensorboard: Optional[TensorBoardLog] = None
        self.profiler: Optional[StepProfiler] = None
        self._gradient_norms_logged = 0
        self.best = BestWeights(self.model, self.checkpoints)
        self.run_name = cfg.run_name or (
            f"{model_config.interaction_type}-{time.strftime('%Y%m%d-%H%M%S')}"
        )

    @property
    def train_loader(self) -> ParquetBatchLoader:
        return self.loaders.train

    @property
    def valid_loader(self) -> ParquetBatchLoader:
        return self.loaders.valid

    @property
    def test_loader(self) -> ParquetBatchLoader:
        return self.loaders.test

    @property
    def global_step(self) -> int:
        return self.state.global_step

    # Training -----------------------------------------------------------------------

    def run(self) -> Dict[str, Any]:
        """Trains (resuming from a checkpoint if there is one), scores the valid and
        test sets with the best validation's weights and reports."""
        cfg, ctx = self.config, self.ctx
        counts = self.parameter_counts
        say(
            ctx,
            run_banner(
                self.model_config,
                self.metadata,
                self.dataset_dir,
                ctx,
                non_embedding_parameters=counts["non_embedding"],
            ),
        )
        started = time.perf_counter()
        self._resume()
        self._start_observers()
        try:
            while self.state.epoch < cfg.epochs and not self.state.stopped:
                self._run_epoch()
            if self.profiler is not None:
                self.profiler.stop()
            if self.stopper.best_step >= 0:
                self.best.restore()
            final = {split: self.evaluate(split) for split in ("valid", "test")}
            if self.tensorboard is not None:
                for split, values in final.items():
                    self.tensorboard.scalars(
                        f"final_{split}", values, self.state.global_step
                    )
        finally:
            self._stop_observers()
        results = build_results(
            run_name=self.run_name,
            model_config=self.model_config,
            train_config=cfg,
            dataset_dir=self.dataset_dir,
            metadata=self.metadata,
            ctx=ctx,
            plan=self.plan,
            parameter_counts=counts,
            state=self.state,
            best_step=self.stopper.best_step,
            gradient_norms=self.gradient_norms,
            final=final,
            wall_seconds=time.perf_counter() - started,
        )
        if ctx.is_rank_zero:
            write_report(results, cfg.output_dir, self.model_config.interaction_type)
        return results

    def _start_observers(self) -> None:
        """TensorBoard (rank 0, from the step this process starts at) and the
        profiler, once a resume point is loaded: a run refused before that writes
        nothing."""
        cfg, ctx = self.config, self.ctx
        if cfg.tensorboard and ctx.is_rank_zero:
            log_dir = tensorboard_dir(cfg.output_dir, self.run_name)
            # Steps up to the resumed one were logged by the run that saved it.
            self.tensorboard = TensorBoardLog(
                log_dir, purge_step=self.state.global_step + 1
            )
            say(ctx, f"[torchrec_dlf] TensorBoard logs: {os.path.abspath(log_dir)}")
        if cfg.profile:
            trace_dir = profile_dir(cfg.output_dir, self.run_name)
            self.profiler = StepProfiler(trace_dir, ctx.rank, ctx.device)
            say(
                ctx, f"[torchrec_dlf] profiling steps into {os.path.abspath(trace_dir)}"
            )

    def _stop_observers(self) -> None:
        if self.profiler is not None:
            self.profiler.stop()
            self.profiler = None
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None

    def _run_epoch(self) -> None:
        """Trains the rest of the current epoch, segment by segment (`StepSchedule`),
        validating, checkpointing and stopping where it is due."""
        state, schedule = self.state, self.schedule
        epoch = state.epoch
        self.loaders.train.set_epoch(epoch)
        num_batches = schedule.epoch_batches(len(self.loaders.train))
        done = min(state.batch_in_epoch, num_batches)
        batches = self.loaders.train.iterate(start_batch=done)
        progress = progress_bar(
            self.config.print_progress and self.ctx.is_rank_zero,
            epoch,
            num_batches,
            done,
        )
        while done < num_batches:
            end = schedule.next_boundary(done, num_batches, state.global_step)
            self._train_segment(itertools.islice(batches, end - done), progress)
            done = state.batch_in_epoch = end
            due = schedule.due(done, num_batches, state.global_step)
            if due.validate:
                self._validate(epoch)
            if due.epoch_end or state.stopped:
                state.epoch, state.batch_in_epoch = epoch + 1, 0
            if due.checkpoint or (state.stopped and schedule.checkpoints):
                self._save_checkpoint()
            if due.interrupt:
                raise TrainingInterrupted(state.global_step)
            if state.stopped:
                break
        if progress is not None:
            progress.close()
        if num_batches == 0:
            state.epoch += 1

    def _train_segment(self, batches: Iterator[Batch], progress: Any) -> None:
        """Runs the pipeline until ``batches`` is exhausted (the pipeline is drained),
        setting the learning rates of each step first and logging every
        ``log_every_n_steps`` steps."""
        state, interval = self.state, self.interval
        log_every = self.config.log_every_n_steps
        self.model.train()
        start = time.perf_counter()
        while True:
            self.lr_scheduler.apply(state.global_step)
            step_start = time.perf_counter()
            try:
                loss, logits, labels = self.pipeline.progress(batches)
            except StopIteration:
                break
            state.global_step += 1
            samples = labels.numel() * self.ctx.world_size
            state.train_samples += samples
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"train loss is {value} at step {state.global_step} (epoch "
                    f"{state.epoch}): training diverged; lower --learning_rate, "
                    f"check the numeric fields' ranges in "
                    f"{os.path.join(self.dataset_dir, 'metadata.json')} or transform them"
                )
            state.loss_sum += value
            state.loss_count += 1
            update_rec_metrics(self.train_metrics, logits, labels)
            interval.add(value, samples, time.perf_counter() - step_start)
            if self.profiler is not None:
                self.profiler.step()
            if log_every and state.global_step % log_every == 0:
                self._log_train(progress)
            if progress is not None:
                progress.update(1)
                progress.set_postfix(
                    loss=f"{value:.4f}", **interval.postfix, refresh=False
                )
        state.train_seconds += time.perf_counter() - start

    def _log_train(self, progress: Any) -> None:
        """The windowed train metrics of every rank (a collective), on the progress
        bar (or as a line when it is off) and in TensorBoard, with the interval's
        mean loss, samples/s, learning rates and gradient norms."""
        state, interval = self.state, self.interval
        values = compute_rec_metrics(self.train_metrics)
        rates = dict(zip(self.lr_labels, self.lr_scheduler.learning_rates))
        line = {
            "loss": interval.mean_loss,
            **values,
            "samples_per_second": interval.samples_per_second,
        }
        interval.show(values)
        if progress is None:
            say(self.ctx, train_progress_line(state.global_step, line, rates))
        if self.tensorboard is not None:
            self.tensorboard.scalars("train", line, state.global_step)
            self.tensorboard.scalars("lr", rates, state.global_step)
            if self.gradient_norms is not None:
                self._gradient_norms_logged = self.tensorboard.gradient_norms(
                    self.gradient_norms.history, self._gradient_norms_logged
                )
        interval.reset()

    # Evaluation and early stopping ------------------------------------------------

    def evaluate(self, split: str) -> Dict[str, float]:
        """AUC and logloss of the ``valid`` or ``test`` split (collective)."""
        if split == "valid":
            loader, limit = self.loaders.valid, self.config.limit_val_batches
        else:
            loader, limit = self.loaders.test, self.config.limit_test_batches
        return evaluate(
            self.pipeline,
            self.model,
            loader,
            self.ctx.device,
            limit,
            group_field=self.config.gauc_field,
        )

    def _validate(self, epoch: int) -> None:
        """Validates, steps early stopping (and the learning-rate decay), keeps the
        best weights and records the evaluation with the training loss since the
        previous one."""
        state = self.state
        valid = self.evaluate("valid")
        improved = self.stopper.update(valid["auc"], self.optimizer, state.global_step)
        if improved:
            self.best.keep({"step": state.global_step, **self.model_description()})
        else:
            self.lr_scheduler.on_plateau()
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
        say(
            self.ctx,
            f"epoch {epoch} step {state.global_step}: train loss "
            f"{record['train_loss']:.5f}, valid AUC {valid['auc']:.5f}, logloss "
            f"{valid['logloss']:.5f}, NE {valid['ne']:.5f}, calibration "
            f"{valid['calibration']:.5f}"
            + (f", GAUC {valid['gauc']:.5f}" if "gauc" in valid else "")
            + (" (best)" if improved else ""),
        )
        if self.tensorboard is not None:
            self.tensorboard.scalars(
                "valid",
                {**valid, "train_loss": record["train_loss"]},
                state.global_step,
            )
        if self.stopper.should_stop:
            state.stopped = True
            say(
                self.ctx,
                f"early stop after {self.stopper.bad_evaluations} evaluations "
                "without improvement",
            )

    # Checkpoints ----------------------------------------------------------------------

    def model_description(self) -> Dict[str, Any]:
        """What is needed to rebuild the model from a checkpoint (predict, export)."""
        return describe_model(
            self.model_config,
            self.config.dense_precision,
            self.metadata,
            self.dataset_dir,
        )

    def _save_checkpoint(self) -> None:
        assert self.checkpoints is not None
        trainer_state = {
            **asdict(self.state),
            **self.model_description(),
            "stopper": self.stopper.state_dict(),
            "learning_rates": [g["lr"] for g in self.optimizer.param_groups],
            "lr_scheduler": self.lr_scheduler.state_dict(),
        }
        path = self.checkpoints.save(
            self.state.global_step, self.model, self.optimizer, trainer_state
        )
        say(self.ctx, f"checkpoint written: {path}")

    def _load_checkpoint(self, path: str) -> ResumePoint:
        assert self.checkpoints is not None
        return load_resume_point(
            path,
            self.checkpoints,
            self.model,
            self.optimizer,
            self.model_config,
            self.metadata,
            self.dataset_dir,
        )

    def _resume(self) -> None:
        """Continues from the checkpoint ``--resume`` names, if any."""
        point = find_resume_point(
            self.config.resume,
            self.checkpoints,
            self._load_checkpoint,
            lambda line: say(self.ctx, line),
        )
        if point is None:
            return
        saved, loaded = point.saved, point.loaded
        self.state = TrainerState.from_dict(saved)
        self.stopper.load_state_dict(saved["stopper"])
        if "lr_scheduler" in saved:
            self.lr_scheduler.load_state_dict(saved["lr_scheduler"])
        else:  # written before the schedules: its rates are the base rates
            self.lr_scheduler.load_state_dict(
                {"base_lrs": saved["learning_rates"], "step": None}
            )
        self.state.batch_in_epoch = rescaled_batch_in_epoch(
            self.state.batch_in_epoch, loaded.world_size, self.ctx.world_size
        )
        say(
            self.ctx,
            f"resumed from {point.path} (step {loaded.step}, epoch {self.state.epoch}, "
            f"batch {self.state.batch_in_epoch}, saved by {loaded.world_size} rank(s))",
        )
