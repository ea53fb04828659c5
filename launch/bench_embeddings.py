#!/usr/bin/env python3
"""Embedding benchmark: EmbeddingBagCollection lookup throughput with FBGEMM's fused
kernels through DMP (each sharding type), TorchRec's unsharded EBC and plain
torch.nn.EmbeddingBag, forward and forward+backward (with the optimizer update), swept
over batch size, pooling factor, dimension, tables, rows and Zipf skew, against the
machine's copy and random-gather bandwidth measured in the same run.

    python launch/bench_embeddings.py                     # CPU, one rank
    torchx run dist.ddp -j 1x2 --script launch/bench_embeddings.py -- --preset small
    python launch/bench_embeddings.py --device cuda --preset gpu_check

Writes bench_embeddings.json and bench_embeddings.png into --output_dir (rank 0).

``python -m torchrec_dlf.bench_embeddings`` as a script path, for TorchX, torchrun and
launch/gpu_check.sh.
"""

import sys

from torchrec_dlf.bench_embeddings import main

if __name__ == "__main__":
    sys.exit(main())
