"""Batch prediction from a checkpoint, on any number of ranks (plain python, torchrun or
TorchX), writing Parquet with the row index and the predicted probability.

    python -m torchrec_dlf.predict --checkpoint results/ckpt/best \\
        --dataset_dir data/frappe --split test --output results/predictions/test
    torchx run dist.ddp -j 1x2 -m torchrec_dlf.predict -- --checkpoint ...

Also installed as ``torchrec-dlf-predict``. Raw files are scored after preparing them
with the training data's vocabulary.
"""

import sys
from typing import List, Optional

from torchrec_dlf.inference.batch_prediction import run


def main(argv: Optional[List[str]] = None) -> int:
    """Exit status 0, or 2 after one ``error: ...`` line for a user error."""
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
