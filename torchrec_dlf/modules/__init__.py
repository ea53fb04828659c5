from torchrec_dlf.modules.block_mlp import BlockMLP  # noqa: F401
from torchrec_dlf.modules.deep_mlp import DeepMLP  # noqa: F401
from torchrec_dlf.modules.dlf_config import DLFConfig  # noqa: F401
from torchrec_dlf.modules.dlf_layer import DLFLayer  # noqa: F401
from torchrec_dlf.modules.factorization_machine import (  # noqa: F401
    FieldFactorizationMachine,
)
from torchrec_dlf.modules.factorized_interaction import (  # noqa: F401
    FactorizedInteractionBlock,
)
from torchrec_dlf.modules.gated_residual import GatedResidual  # noqa: F401
from torchrec_dlf.modules.naf import (  # noqa: F401
    ConcatFusion,
    NetworkAwareAttentionFusion,
    StreamAttentionBlock,
)
from torchrec_dlf.modules.numeric_tokens import (  # noqa: F401
    EmptyDenseArch,
    NumericFieldEmbeddingArch,
)
from torchrec_dlf.modules.over_arch import build_over_arch  # noqa: F401
from torchrec_dlf.modules.token_mixing import TokenMixingBlock  # noqa: F401
