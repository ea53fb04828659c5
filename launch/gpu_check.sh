#!/usr/bin/env bash
# GPU checks in one go, for a host with a CUDA device: the environment, the GPU-only
# tests (tests/gpu, marker "gpu"), and short model and embedding benchmarks with
# --device cuda. Results go to $OUT_DIR (default results/gpu_check).
#
#   launch/gpu_check.sh            # uses .venv/bin/python if present, else python3
#   PYTHON=/path/python launch/gpu_check.sh
#
# TorchRec-dependent parts (the CUDA training job, the sharded-EBC benchmark) need
# torchrec with the CUDA build of fbgemm-gpu matching the host's torch; without them
# those parts are reported as skipped and the pure-PyTorch parts still run.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then py=$PYTHON
elif [ -x .venv/bin/python ]; then py=.venv/bin/python
else py=python3; fi
out=${OUT_DIR:-results/gpu_check}
mkdir -p "$out"
status=0

echo "== environment"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || status=1
"$py" - <<'PY' | tee "$out/environment.txt"
import importlib.util, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "device", torch.cuda.get_device_name() if torch.cuda.is_available() else None)
for m in ("torchrec", "fbgemm_gpu", "pyarrow", "matplotlib"):
    print(m, "available" if importlib.util.find_spec(m) else "missing")
PY

echo "== GPU tests"
PYTHONPATH=. "$py" -m pytest -q -rs -p no:cacheprovider -m gpu tests/gpu 2>&1 | tee "$out/tests.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

has_torchrec=$("$py" -c "import torchrec, fbgemm_gpu" >/dev/null 2>&1 && echo yes || echo no)
for bench in bench_model bench_embeddings; do
  if [ "$bench" = bench_embeddings ] && [ "$has_torchrec" = no ]; then
    echo "== $bench skipped: needs torchrec and the CUDA build of fbgemm-gpu" | tee "$out/$bench.txt"
    continue
  fi
  echo "== $bench (cuda, short)"
  PYTHONPATH=. "$py" "launch/$bench.py" --device cuda --preset gpu_check --output_dir "$out" 2>&1 | tee "$out/$bench.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
echo "== gpu_check finished with status $status (results in $out)"
exit $status
