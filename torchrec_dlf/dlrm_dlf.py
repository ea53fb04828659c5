"""DLRM with DLF as its interaction arch."""

from typing import List, Optional

import torch
from torchrec.models.dlrm import DLRM
from torchrec.modules.embedding_modules import EmbeddingBagCollection

from torchrec_dlf.interaction_arch import DLFInteractionArch
from torchrec_dlf.modules.numeric_tokens import (
    EmptyDenseArch,
    NumericFieldEmbeddingArch,
)
from torchrec_dlf.modules.over_arch import build_over_arch, placeholder_over_arch_sizes

DENSE_EMBEDDINGS = ("mlp", "per_field")


class DLRM_DLF(DLRM):
    """
    Recsys model with DLF (Wang et al., "DLF: Enhancing Explicit-Implicit Interaction via
    Dynamic Low-Order-Aware Fusion for CTR Prediction", SIGIR 2025) as the interaction
    layer. Built like TorchRec's `DLRM_DCN`: same sparse arch, dense arch and over arch,
    with `DLFInteractionArch` between them. Works inside `DLRMTrain` and under
    `DistributedModelParallel` unchanged.

    The module assumes all sparse features have the same embedding dimension. It holds no
    buffers at its defaults (LayerNorm in the block MLPs), so DMP's DDP without buffer
    broadcast keeps every rank's model identical, and any batch size trains.

    Learning rates: tested with Adam at 1e-3 to 3e-3 and with plain SGD at lr 15, with or
    without warmup (TorchRec's DLRM example); Adam above 1e-2 is untested. The released
    layer (``dlf_branch_scale=False, dlf_scale_output=False``) is unsafe at both ends: at
    Adam 3e-3 about one seed in three collapses to a constant output, and SGD at lr 15
    reaches NaN within a few steps.

    * F: number of sparse features
    * D: embedding_dimension of sparse features
    * B: batch size
    * num_features: number of dense features

    Args:
        embedding_bag_collection (EmbeddingBagCollection): collection of embedding bags
            used to define `SparseArch`.
        dense_in_features (int): the dimensionality of the dense input features; 0 for a
            dataset without numeric fields (no dense token is made).
        dense_arch_layer_sizes (List[int]): the layer sizes for the `DenseArch`; the last
            must equal D. Unused when ``dense_embedding="per_field"``.
        over_arch_layer_sizes (List[int]): the layer sizes for the `OverArch`, whose input
            is the flattened last DLF layer; ``[1]`` is a single linear layer.
        dlf_num_layers (int): stacked DLF layers (L).
        dlf_tokens_per_block (int): tokens produced by each stream per layer.
        dlf_rank (int): rank R of the factorised blocks.
        dlf_block_mlp_width (int): hidden width of the block MLPs.
        dlf_num_heads (int): NAF attention heads (must divide D).
        dlf_dropout (float): dropout in block MLPs and attention.
        dlf_low_order (bool): keep the low-order (alpha) stream.
        dlf_fusion (str): "attention" (NAF) or "concat".
        dlf_gate (bool): gate the residual path.
        dlf_implicit_activation (bool): bias + ReLU in the implicit (gamma) stream.
        dlf_block_norm (str): "layer" (default: LayerNorm, no running statistics, any
            batch size) or "batch" (the released code's BatchNorm1d) in the block MLPs.
        dlf_branch_scale (bool): the streams of each layer enter through a learned scalar
            initialised at 0 (ReZero); off: the released code's plain sum.
        dlf_scale_output (bool): scale the flattened DLF output to unit norm per sample
            before the over arch.
        dense_embedding (str): "mlp" (DLRM's dense arch, one token) or "per_field" (one
            token per numeric field).
        dense_device (Optional[torch.device]): default compute device.

    Example::

        B, D = 2, 8
        ebc = EmbeddingBagCollection(tables=[
            EmbeddingBagConfig(name="t1", embedding_dim=D, num_embeddings=100,
                               feature_names=["f1", "f2"]),
        ])
        model = DLRM_DLF(
            embedding_bag_collection=ebc,
            dense_in_features=13,
            dense_arch_layer_sizes=[20, D],
            over_arch_layer_sizes=[64, 1],
        )
        sparse_features = KeyedJaggedTensor.from_offsets_sync(
            keys=["f1", "f2"],
            values=torch.tensor([1, 2, 4, 5, 4, 3, 2, 9]),
            offsets=torch.tensor([0, 2, 4, 6, 8]),
        )
        logits = model(dense_features=torch.rand(B, 13), sparse_features=sparse_features)
    """

    def __init__(
        self,
        embedding_bag_collection: EmbeddingBagCollection,
        dense_in_features: int,
        dense_arch_layer_sizes: List[int],
        over_arch_layer_sizes: List[int],
        dlf_num_layers: int = 3,
        dlf_tokens_per_block: int = 16,
        dlf_rank: int = 24,
        dlf_block_mlp_width: int = 512,
        dlf_num_heads: int = 2,
        dlf_dropout: float = 0.0,
        dlf_low_order: bool = True,
        dlf_fusion: str = "attention",
        dlf_gate: bool = True,
        dlf_implicit_activation: bool = True,
        dlf_block_norm: str = "layer",
        dlf_branch_scale: bool = True,
        dlf_scale_output: bool = True,
        dense_embedding: str = "mlp",
        dense_device: Optional[torch.device] = None,
    ) -> None:
        if dense_embedding not in DENSE_EMBEDDINGS:
            raise ValueError(
                f"dense_embedding must be one of {DENSE_EMBEDDINGS}, got {dense_embedding!r}"
            )
        super().__init__(
            embedding_bag_collection,
            dense_in_features,
            dense_arch_layer_sizes,
            placeholder_over_arch_sizes(over_arch_layer_sizes),
            dense_device,
        )
        embedding_dim: int = embedding_bag_collection.embedding_bag_configs()[
            0
        ].embedding_dim
        num_sparse_features: int = len(self.sparse_arch.sparse_feature_names)

        if dense_in_features == 0:
            self.dense_arch = EmptyDenseArch()
            num_dense_tokens = 0
        elif dense_embedding == "per_field":
            self.dense_arch = NumericFieldEmbeddingArch(
                dense_in_features, embedding_dim
            ).to(dense_device)
            num_dense_tokens = dense_in_features
        else:
            num_dense_tokens = 1

        # pyrefly: ignore[bad-assignment]
        self.inter_arch = DLFInteractionArch(
            num_sparse_features=num_sparse_features,
            embedding_dim=embedding_dim,
            num_dense_tokens=num_dense_tokens,
            num_layers=dlf_num_layers,
            tokens_per_block=dlf_tokens_per_block,
            rank=dlf_rank,
            block_mlp_width=dlf_block_mlp_width,
            num_heads=dlf_num_heads,
            dropout=dlf_dropout,
            low_order=dlf_low_order,
            fusion=dlf_fusion,
            gate=dlf_gate,
            implicit_activation=dlf_implicit_activation,
            block_norm=dlf_block_norm,
            branch_scale=dlf_branch_scale,
            scale_output=dlf_scale_output,
        ).to(dense_device)

        self.over_arch = build_over_arch(
            self.inter_arch.output_dim, over_arch_layer_sizes, dense_device
        )
