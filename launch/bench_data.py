#!/usr/bin/env python3
"""Data benchmark: preparation rows/s against torchrec's Criteo preprocessing, and loader
throughput against the training step rate, on a generated Criteo-format TSV.

    python launch/bench_data.py                      # 1M rows (the reported configuration)
    python launch/bench_data.py --rows 20000 --train_steps 2 --smoke   # CI smoke run

Prints a table and writes ``bench_data.json`` into ``--output_dir``. Figures are wall
times of one run on one machine: compare the ratios, not the absolute numbers.

``python -m torchrec_dlf.bench_data`` as a script path, for TorchX, torchrun and
launch/gpu_check.sh.
"""

import sys

from torchrec_dlf.bench_data import main

if __name__ == "__main__":
    sys.exit(main())
