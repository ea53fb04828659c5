"""The module the train pipeline runs: a DLRM-style model, its loss, regularisation and
dense-compute precision."""

import contextlib
from typing import Iterator, List, Optional, Tuple

import torch
from torch import nn
from torch.fx._symbolic_trace import is_fx_tracing
from torchrec.datasets.utils import Batch
from torchrec.models.dlrm import DLRM, DLRMTrain

DENSE_PRECISIONS = ("fp32", "bf16")


class DLRMTrainModule(DLRMTrain):
    """
    `DLRMTrain` (same inputs and outputs, the model run by `DLRM.forward`) with these
    training options:

    * ``embedding_l2``: an L2 penalty on the embeddings a batch looks up,
      ``loss = BCE + embedding_l2 * mean_b sum_f ||e_bf||^2``. It is part of the loss, so
      its gradient reaches the tables through the sharded lookup's backward and FBGEMM's
      fused optimizer applies it to exactly the rows the batch used (FBGEMM 1.8.0's fused
      CPU kernels ignore their own ``weight_decay`` argument). Evaluation reports plain
      BCE.
    * ``dense_precision="bf16"``: the model runs under bf16 autocast, i.e. the dense,
      interaction and over archs' matrix products run in bf16 (AMX on recent CPUs,
      tensor cores on GPUs); the embedding lookup (which has no such op), the loss and
      the parameters stay fp32.
    * ``track_embedding_gradient``: records the norm of the gradient reaching the
      looked-up embeddings in `last_embedding_grad_norm` (for `GradientNormTracker`:
      the fused tables never hold a gradient).

    The looked-up embeddings (B x F x D) are caught on their way out of the model's
    ``sparse_arch`` (a forward hook held for the duration of the forward), so this
    works for any `DLRM` subclass whose forward runs the sparse arch once.

    Args:
        dlrm_module (DLRM): the model.
        embedding_l2 (float): penalty weight.
        dense_precision (str): "fp32" or "bf16".
        device_type (Optional[str]): autocast device type ("cpu" or "cuda"); defaults to
            where the dense parameters live.

    Example::

        model = DLRMTrainModule(DLRM_DLF(...), embedding_l2=1e-4, dense_precision="bf16")
        loss, (loss, logits, labels) = model(batch)
    """

    def __init__(
        self,
        dlrm_module: DLRM,
        embedding_l2: float = 0.0,
        dense_precision: str = "fp32",
        device_type: Optional[str] = None,
    ) -> None:
        super().__init__(dlrm_module)
        if embedding_l2 < 0:
            raise ValueError(f"embedding_l2 must be >= 0, got {embedding_l2}")
        if dense_precision not in DENSE_PRECISIONS:
            raise ValueError(
                f"dense_precision must be one of {DENSE_PRECISIONS}, got {dense_precision!r}"
            )
        self.embedding_l2 = embedding_l2
        self.dense_precision = dense_precision
        if device_type is None:
            device_type = next(dlrm_module.over_arch.parameters()).device.type
        self._autocast_device = "cuda" if device_type == "cuda" else "cpu"
        self.track_embedding_gradient: bool = False
        # The L2 norm of the gradient that reached the looked-up embeddings in the
        # last backward pass with tracking on (0.0 before the first one).
        self.last_embedding_grad_norm: float = 0.0

    def _record_embedding_gradient(self, grad: torch.Tensor) -> None:
        self.last_embedding_grad_norm = grad.detach().float().norm().item()

    def _autocast(self) -> torch.autocast:
        return torch.autocast(
            self._autocast_device,
            dtype=torch.bfloat16,
            enabled=self.dense_precision == "bf16",
        )

    @contextlib.contextmanager
    def _catch_embeddings(self) -> Iterator[List[torch.Tensor]]:
        """Collects what the sparse arch returns (B x F x D) while the block runs."""
        caught: List[torch.Tensor] = []

        def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            caught.append(output)

        handle = self.model.sparse_arch.register_forward_hook(hook)
        try:
            yield caught
        finally:
            handle.remove()

    def forward(
        self, batch: Batch
    ) -> Tuple[torch.Tensor, Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """
        Args:
            batch (Batch): dense features B x num_dense, sparse features (KJT) and
                labels B.

        Returns:
            Tuple[loss, Tuple[bce, logits, labels]]: ``loss`` (with the L2 penalty in
            training) to backpropagate; the BCE, fp32 logits B and labels detached.
        """
        with self._autocast(), self._catch_embeddings() as caught:
            logits = self.model(batch.dense_features, batch.sparse_features)
        (embedded_sparse,) = caught
        # Not while the train pipeline traces this forward (fx) to find the sharded EBC.
        if self.training and self.track_embedding_gradient and not is_fx_tracing():
            if embedded_sparse.requires_grad:
                embedded_sparse.register_hook(self._record_embedding_gradient)
        logits = logits.squeeze(-1).float()
        loss = self.loss_fn(logits, batch.labels.float())
        penalized = loss
        if self.training and self.embedding_l2 > 0.0:
            penalized = (
                loss
                + self.embedding_l2 * embedded_sparse.square().sum(dim=(1, 2)).mean()
            )
        return penalized, (loss.detach(), logits.detach(), batch.labels.detach())
