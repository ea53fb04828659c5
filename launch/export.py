#!/usr/bin/env python3
"""Exports a checkpoint for serving: one TorchScript file (unsharded, int8 embedding
tables, scripted dense part) plus a JSON manifest.

    python launch/export.py --checkpoint results/ckpt/best --output results/model.pt
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from torchrec_dlf.inference.serving_export import export_for_serving, QUANTIZATIONS  # noqa: E402
from torchrec_dlf.training.quiet import quiet_library_messages  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--quantization", choices=sorted(QUANTIZATIONS), default="int8")
    args = p.parse_args()
    quiet_library_messages()
    manifest = export_for_serving(args.checkpoint, args.output, args.quantization)
    print(json.dumps({k: manifest[k] for k in ("checkpoint", "quantization", "output")}))
    print(f"[export] model written to {os.path.abspath(args.output)}")


if __name__ == "__main__":
    main()
