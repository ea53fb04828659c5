"""Embedding regularisation with explicit semantics for replicated and fused tables.

Three modes (``--embedding_l2_mode``), each with strength lambda (``--embedding_l2``):

* ``lookup``: ``lambda * mean_b sum_f ||e_bf||^2`` over the embeddings a batch looks up,
  added to the loss (`DLRMTrainModule`). Rows a batch does not touch never change.
* ``table``: FuxiCTR's regulariser, ``(lambda / 2) * ||W||^2`` over every WHOLE table,
  i.e. ``lambda * W`` added to the gradient of every row, touched or not, every step.
  Tables stepped by a regular optimizer (data_parallel) see exactly that gradient, so
  with Adam this is FuxiCTR's update. FBGEMM's fused (in-backward) kernels only ever
  see the rows of the batch, so for fused tables the penalty is applied by the trainer
  as its own SGD step, ``W <- W * (1 - lr * lambda)`` with the tables' learning rate,
  on every row of every local shard, beside the fused update of the looked-up rows.
* ``decoupled``: ``W <- W * (1 - lr * lambda)`` on every row of every table after each
  step (AdamW-style weight decay, independent of the optimizer), for replicated and
  fused tables alike.

On CUDA, ``--embedding_decay_kernel fbgemm`` hands decoupled decay of fused row-wise
Adagrad tables to FBGEMM's own lazy whole-table decay (``DECOUPLE_GLOBAL``: a row is
decayed by the steps it missed when it is next looked up). FBGEMM 1.8.0's CPU kernels
ignore ``weight_decay`` and have no ``DECOUPLE_GLOBAL``, hence the trainer-side decay.
"""

from typing import Any, Dict, List, Mapping, Optional, Union

import torch
from torch.distributed._shard.sharded_tensor import ShardedTensor
from torchrec.optim.keyed import KeyedOptimizer

from torchrec_dlf.user_errors import ConfigError

EMBEDDING_L2_MODES = ("lookup", "table", "decoupled")
EMBEDDING_DECAY_KERNELS = ("trainer", "fbgemm")

TableWeight = Union[torch.Tensor, ShardedTensor]


def _local_tensors(weight: TableWeight) -> List[torch.Tensor]:
    """The tensors this rank holds of a table: its shards (views into FBGEMM's weights)
    or the replicated table itself."""
    if isinstance(weight, ShardedTensor):
        return [shard.tensor for shard in weight.local_shards()]
    return [weight]


class TableWeightDecay(KeyedOptimizer):
    """
    Whole-table L2 for the embedding tables, stepped with the other optimizers in the
    job's `CombinedOptimizer` (so learning-rate decay on plateau scales its ``lr`` too,
    and it runs once per training step on every rank):

    * ``coupled_tables`` (replicated tables with a regular optimizer, ``table`` mode):
      ``grad += l2 * W``; must be stepped before that optimizer;
    * ``decayed_tables`` (fused tables in ``table`` mode, every table in ``decoupled``
      mode): ``W *= 1 - lr * l2`` on every local row, every ``every_n_steps`` steps with
      the factor compounded over the steps in between.

    It holds no state and no params of its own (the tables stay the params of the
    optimizer that steps them), so a checkpoint of the combined optimizer resumes exactly.

    Args:
        coupled_tables (Mapping[str, TableWeight]): tables whose gradient gets ``l2 * W``.
        decayed_tables (Mapping[str, TableWeight]): tables decayed in place.
        l2 (float): lambda.
        lr (float): learning rate of the decay (the tables' learning rate).
        every_n_steps (int): apply the decay every N steps (compounded), to bound its
            cost on very large tables.

    Example::

        decay = TableWeightDecay({}, model.fused_optimizer.params, l2=0.05, lr=0.05)
        optimizer = CombinedOptimizer([model.fused_optimizer, ("table_decay", decay)])
    """

    def __init__(
        self,
        coupled_tables: Mapping[str, TableWeight],
        decayed_tables: Mapping[str, TableWeight],
        l2: float,
        lr: float,
        every_n_steps: int = 1,
    ) -> None:
        if l2 < 0:
            raise ValueError(f"embedding l2 must be >= 0, got {l2}")
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        overlap = set(coupled_tables) & set(decayed_tables)
        if overlap:
            raise ValueError(f"tables both coupled and decayed: {sorted(overlap)}")
        # The tables are not registered as this optimizer's params: they are already the
        # params of the optimizer that steps them (with state), and a CombinedOptimizer
        # keys state by tensor, so a second key for the same tensor breaks its
        # state_dict / load_state_dict. The groups carry no params, only the lr that
        # plateau decay scales.
        groups: List[Dict[str, Any]] = []
        self._group_tables: List[List[TableWeight]] = []
        for tables, coupled in ((coupled_tables, True), (decayed_tables, False)):
            if tables:
                groups.append({"params": [], "lr": lr, "coupled": coupled})
                self._group_tables.append(list(tables.values()))
        super().__init__({}, {}, groups)
        self.tables: Dict[str, TableWeight] = {**coupled_tables, **decayed_tables}
        self.l2 = l2
        self.every_n_steps = every_n_steps
        self._step = 0

    def init_state(self, sparse_grad_parameter_names: Optional[Any] = None) -> None:
        # Stateless: nothing to materialise (and no update may happen while loading).
        pass

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # pyre-ignore[14]
        self._step += 1
        if self.l2 == 0.0:
            return
        apply_decay = self._step % self.every_n_steps == 0
        for group, tables in zip(self.param_groups, self._group_tables):
            if group["coupled"]:
                for weight in tables:
                    for local in _local_tensors(weight):
                        if local.grad is not None:
                            local.grad.add_(local, alpha=self.l2)
            elif apply_decay:
                factor = (1.0 - group["lr"] * self.l2) ** self.every_n_steps
                for weight in tables:
                    for local in _local_tensors(weight):
                        local.mul_(factor)


def fbgemm_decay_kwargs(
    mode: str, l2: float, embedding_optimizer: str, device: torch.device
) -> Dict[str, Any]:
    """
    Fused-optimizer kwargs that make FBGEMM decay fused tables itself (CUDA only):
    ``decoupled`` with row-wise Adagrad becomes ``DECOUPLE_GLOBAL``, FBGEMM's lazy
    whole-table decay. Other combinations have no whole-table kernel and are refused.
    """
    if device.type != "cuda":
        raise ConfigError(
            "--embedding_decay_kernel fbgemm needs CUDA: FBGEMM's CPU kernels ignore "
            "weight_decay and have no DECOUPLE_GLOBAL; use --embedding_decay_kernel trainer"
        )
    if mode != "decoupled" or embedding_optimizer != "rowwise_adagrad":
        raise ConfigError(
            "--embedding_decay_kernel fbgemm supports --embedding_l2_mode decoupled with "
            "--embedding_optimizer rowwise_adagrad only (FBGEMM's DECOUPLE_GLOBAL); got "
            f"mode {mode!r} with {embedding_optimizer!r}"
        )
    from fbgemm_gpu.split_table_batched_embeddings_ops_training import (
        GlobalWeightDecayDefinition,
        WeightDecayMode,
    )

    return {
        "weight_decay": l2,
        "weight_decay_mode": WeightDecayMode.DECOUPLE_GLOBAL,
        "global_weight_decay": GlobalWeightDecayDefinition(start_iter=0),
    }
