#!/usr/bin/env python3
"""Model benchmark: training and inference throughput of DLRM_DLF's dense part against
TorchRec's dot, DCN and projection archs and the authors' DLF layer structure (plain
PyTorch), on identical inputs, in fp32 and bf16, with FLOPs and the machine's matmul peak.

    python launch/bench_model.py                         # criteo-shaped preset, CPU
    python launch/bench_model.py --device cuda --preset criteo_gpu
    python launch/bench_model.py --preset smoke          # CI

Writes bench_model.json and bench_model.png into --output_dir.

``python -m torchrec_dlf.bench_model`` as a script path, for TorchX, torchrun and
launch/gpu_check.sh.
"""

import sys

from torchrec_dlf.bench_model import main

if __name__ == "__main__":
    sys.exit(main())
