"""DLRM with DLF as its interaction arch."""

from typing import Any, List, Optional

import torch
from torchrec.models.dlrm import DLRM
from torchrec.modules.embedding_modules import EmbeddingBagCollection

from torchrec_dlf.models.interaction_arch import DLFInteractionArch
from torchrec_dlf.modules.dlf_config import DLFConfig
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
        dlf_config (Optional[DLFConfig]): the DLF settings (default: `DLFConfig()`).
        **dlf_switches: `DLFConfig` fields with a ``dlf_`` prefix, replacing those of
            ``dlf_config`` (e.g. ``dlf_num_layers=2, dlf_fusion="concat"``).
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
        dlf_config: Optional[DLFConfig] = None,
        dense_embedding: str = "mlp",
        dense_device: Optional[torch.device] = None,
        **dlf_switches: Any,
    ) -> None:
        if dense_embedding not in DENSE_EMBEDDINGS:
            raise ValueError(
                f"dense_embedding must be one of {DENSE_EMBEDDINGS}, got {dense_embedding!r}"
            )
        config = DLFConfig.with_switches(dlf_config, **_unprefixed(dlf_switches))
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
        num_dense_tokens = self._replace_dense_arch(
            dense_in_features, dense_embedding, embedding_dim, dense_device
        )
        # pyrefly: ignore[bad-assignment]
        self.inter_arch = DLFInteractionArch(
            num_sparse_features=len(self.sparse_arch.sparse_feature_names),
            embedding_dim=embedding_dim,
            num_dense_tokens=num_dense_tokens,
            config=config,
        ).to(dense_device)
        self.over_arch = build_over_arch(
            self.inter_arch.output_dim, over_arch_layer_sizes, dense_device
        )

    def _replace_dense_arch(
        self,
        dense_in_features: int,
        dense_embedding: str,
        embedding_dim: int,
        dense_device: Optional[torch.device],
    ) -> int:
        """Swaps DLRM's dense arch where DLF reads the dense features differently;
        returns the number of dense tokens."""
        if dense_in_features == 0:
            self.dense_arch = EmptyDenseArch()
            return 0
        if dense_embedding == "per_field":
            self.dense_arch = NumericFieldEmbeddingArch(
                dense_in_features, embedding_dim
            ).to(dense_device)
            return dense_in_features
        return 1


def _unprefixed(dlf_switches: Any) -> Any:
    bad = sorted(k for k in dlf_switches if not k.startswith("dlf_"))
    if bad:
        raise TypeError(f"DLRM_DLF got unexpected keyword arguments {bad}")
    return {k[len("dlf_") :]: v for k, v in dlf_switches.items()}
