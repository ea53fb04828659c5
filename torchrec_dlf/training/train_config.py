"""The training job's settings: one flat record, one field per ``launch/train.py`` flag."""

from dataclasses import dataclass
from typing import List, Optional


@dataclass
class TrainConfig:
    """
    Training-loop settings (names follow TorchRec's dlrm_main where they overlap). The
    fields are the command line's flags, so the CLI builds it from its parsed flags by
    name and metrics.json reports it as it is (``train``). The parts of the job take
    the few fields they need as explicit arguments (see `Trainer`).

    Groups (as in ``train_flags``): the optimisation (``learning_rate`` ...
    ``gradient_clip_norm``), embedding regularisation (``embedding_l2*``,
    ``embedding_decay_*``), sharding (``sharding``, ``planner_*``,
    ``data_parallel_*``), the schedule and early stopping (``epochs``,
    ``validation_freq_within_epoch``, ``early_stop_patience``, ``limit_*_batches``,
    ``stop_after_steps``), the learning-rate schedule (``lr_schedule``,
    ``lr_warmup_steps``, ``lr_decay_*``), the input (``batch_size``,
    ``test_batch_size``, ``shuffle_*``, ``drop_last``, ``seed``), output and
    observability (``output_dir``, ``run_name``, ``print_*``, ``log_every_n_steps``,
    ``metrics_window_size``, ``gauc_field``, ``tensorboard``, ``profile``,
    ``gradient_norm_every``) and checkpoints (``checkpoint_*``, ``keep_last_checkpoints``, ``resume``).
    """

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
    compile_interaction: bool = False
    gradient_clip_norm: float = 10.0
    early_stop_patience: int = 2
    lr_decay_factor: float = 0.1
    lr_schedule: str = "plateau"
    lr_warmup_steps: int = 0
    lr_decay_start: int = 0
    lr_decay_steps: Optional[int] = None
    lr_decay_end_factor: float = 0.0
    lr_decay_power: float = 2.0
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
    # TorchRec's planner (--sharding auto); 0.15 is its own default reservation.
    planner_storage_reservation: float = 0.15
    planner_compute_kernels: Optional[List[str]] = None
    planner_hbm_gb: Optional[float] = None
    planner_ddr_gb: Optional[float] = None
    planner_uvm_caching_load_factor: Optional[float] = None
    output_dir: str = "results"
    run_name: Optional[str] = None
    checkpoint_dir: Optional[str] = None
    checkpoint_every_n_steps: Optional[int] = None
    keep_last_checkpoints: int = 2
    resume: str = "auto"
    stop_after_steps: Optional[int] = None
    gradient_norm_every: int = 0
    log_every_n_steps: int = 100
    metrics_window_size: int = 1_000_000
    gauc_field: Optional[str] = None
    tensorboard: bool = True
    profile: bool = False

    # Derived settings (properties, so metrics.json's ``train`` keeps the flags only).

    @property
    def eval_batch_size(self) -> int:
        """Rows per rank per batch of the valid and test sets."""
        return self.test_batch_size or self.batch_size

    @property
    def fused_decay_in_kernel(self) -> bool:
        """Whether FBGEMM decays the fused tables itself (``DECOUPLE_GLOBAL``) instead
        of the trainer's `TableWeightDecay`."""
        return self.embedding_decay_kernel == "fbgemm" and self.embedding_l2 > 0

    @property
    def lookup_embedding_l2(self) -> float:
        """The L2 weight of the looked-up embeddings in the loss (``lookup`` mode)."""
        return self.embedding_l2 if self.embedding_l2_mode == "lookup" else 0.0
