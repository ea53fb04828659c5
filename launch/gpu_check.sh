#!/usr/bin/env bash
# The checks to run on a GPU host after the install (scripts/setup_env.sh, or
# --host-torch with a wheelhouse), in one go, everything under one output directory:
#
#   1. the environment (nvidia-smi, torch, CUDA, the fbgemm-gpu build, torchrec);
#   2. the GPU-only tests (tests/gpu, marker "gpu");
#   3. training jobs through the launch line (torchx run dist.ddp -j 1xN launch/train.py,
#      DMP + TrainPipelineSparseDist) on CUDA/NCCL with FBGEMM's fused TBE:
#        rowwise_table     row-wise Adagrad, whole-table L2 decay (--embedding_l2_mode table)
#        adam              fused Adam (CUDA only), bf16 dense archs
#        decoupled_fbgemm  row-wise Adagrad, decoupled decay by FBGEMM's DECOUPLE_GLOBAL
#      and rowwise_table again on CPU/gloo, with the same flags and ranks;
#   4. the CUDA and CPU rowwise_table runs compared (valid/test AUC and logloss within
#      tolerances: the device RNGs initialise the tables differently, so the runs differ
#      as two seeds do);
#   5. launch/bench_embeddings.py and launch/bench_model.py on CUDA (gpu_check presets).
#
#   launch/gpu_check.sh                       # on the GPU host
#   launch/gpu_check.sh --cpu-reference-only  # step 3's CPU run alone (any host)
#
#   PYTHON=/path/python         default .venv/bin/python, else python3
#   OUT_DIR=DIR                 default results/gpu_check/<date>-<time>; must be new
#   GPU_CHECK_RANKS=N           ranks of each job (default: GPUs, at most 2; CPU: 1)
#   GPU_CHECK_TRAIN_ROWS=N      synthetic training rows (default 100000)
#   GPU_CHECK_EVAL_ROWS=N       synthetic valid and test rows (default 20000)
#   GPU_CHECK_STEPS=N           stop each job after N steps (default: one epoch)
#   GPU_CHECK_AUC_TOLERANCE / GPU_CHECK_LOGLOSS_TOLERANCE   (default 0.02 each)
#
# Each step's output goes to OUT_DIR/logs/<step>.log and one line to
# OUT_DIR/summary.txt; a failed step does not stop the later ones; the exit status is
# 0 only when every step passed. Without a CUDA device it stops at once, before
# writing anything.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=gpu
case "${1:-}" in
  "") ;;
  --cpu-reference-only) mode=cpu ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "error: unknown argument '$1' (see launch/gpu_check.sh --help)" >&2; exit 2 ;;
esac

if [ -n "${PYTHON:-}" ]; then py=$PYTHON
elif [ -x .venv/bin/python ]; then py=.venv/bin/python
else py=python3; fi
command -v "$py" >/dev/null 2>&1 || { echo "error: no interpreter '$py' (set PYTHON)" >&2; exit 2; }
# torchx and torchrun of that interpreter.
PATH="$(cd "$(dirname "$(command -v "$py")")" && pwd):$PATH"
export PATH

# The device first: on a host without CUDA nothing below can run.
"$py" - "$mode" <<'PY' || exit 2
import importlib.metadata as md
import sys

mode = sys.argv[1]


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


try:
    import torch
except ImportError as e:
    fail(f"{sys.executable} has no torch ({e}); install with scripts/setup_env.sh")
if mode == "gpu" and not torch.cuda.is_available():
    fail(
        f"no CUDA device: torch {torch.__version__} (CUDA {torch.version.cuda}) sees "
        f"none; run launch/gpu_check.sh on the GPU host (--cpu-reference-only runs the "
        f"CPU reference job here)"
    )
for module in ("torchrec", "fbgemm_gpu", "torchx"):
    try:
        __import__(module)
    except Exception as e:
        fail(f"{module} does not import ({type(e).__name__}: {e}); install the stack "
             f"with scripts/setup_env.sh [--host-torch --wheelhouse DIR]")
names = {d.metadata["Name"].lower() for d in md.distributions()}
if mode == "gpu" and "fbgemm-gpu-cpu" in names and "fbgemm-gpu" not in names:
    fail("fbgemm-gpu-cpu (the CPU build) is installed: the CUDA jobs need fbgemm-gpu "
         "(a CUDA wheelhouse: scripts/build_wheelhouse.py --cuda N)")
PY

out=${OUT_DIR:-results/gpu_check/$(date +%Y%m%d-%H%M%S)}
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
  echo "error: $out exists and is not empty (OUT_DIR must be a new directory)" >&2
  exit 2
fi
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)

if [ "$mode" = gpu ]; then
  gpus=$("$py" -c 'import torch; print(torch.cuda.device_count())')
  ranks=${GPU_CHECK_RANKS:-$(( gpus < 2 ? gpus : 2 ))}
else
  ranks=${GPU_CHECK_RANKS:-1}
fi
auc_tolerance=${GPU_CHECK_AUC_TOLERANCE:-0.02}
logloss_tolerance=${GPU_CHECK_LOGLOSS_TOLERANCE:-0.02}
# One job definition for every device: the same data (cached under OUT_DIR), model,
# batches and seed, so that the CUDA and CPU runs are the same job.
job=(
  --cache_dir "$out/data"
  --synthetic_train_rows "${GPU_CHECK_TRAIN_ROWS:-100000}"
  --synthetic_eval_rows "${GPU_CHECK_EVAL_ROWS:-20000}"
  --interaction_type dlf --embedding_dim 16 --dense_arch_layer_sizes 32,16
  --over_arch_layer_sizes 64,1 --dlf_num_layers 2 --dlf_tokens_per_block 8
  --dlf_rank 8 --dlf_block_mlp_width 128 --batch_size 1024 --epochs 1 --seed 2021
  --print_progress off --print_sharding_plan --output_dir "$out/jobs"
)
if [ -n "${GPU_CHECK_STEPS:-}" ]; then job+=(--limit_train_batches "$GPU_CHECK_STEPS"); fi
rowwise_table=(--embedding_optimizer rowwise_adagrad --embedding_l2_mode table --embedding_l2 0.001)

status=0
# step NAME COMMAND...: runs COMMAND, its output to the console and logs/NAME.log.
step() {
  local name=$1 started=$SECONDS rc
  shift
  echo "== $name"
  set +e
  "$@" 2>&1 | tee "$out/logs/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -eq 0 ]; then
    printf '%-20s ok      %4ds\n' "$name" $((SECONDS - started)) >>"$out/summary.txt"
  else
    printf '%-20s FAILED  %4ds  exit %d, see logs/%s.log\n' "$name" \
      $((SECONDS - started)) "$rc" "$name" >>"$out/summary.txt"
    status=1
  fi
}

# train NAME DEVICE FLAGS...: one job through the launch line users type, then a
# check that it ran where it was sent.
train() {
  local name=$1 device=$2 gpu=()
  shift 2
  if [ "$device" = cuda ]; then gpu=(--gpu "$ranks"); fi
  torchx run -s local_cwd dist.ddp -j "1x$ranks" "${gpu[@]}" launch/train.py -- \
    --device "$device" "${job[@]}" "$@" --run_name "$name" || return
  "$py" - "$out/jobs/$name/metrics.json" "$device" <<'PY'
import json, sys

path, device = sys.argv[1], sys.argv[2]
with open(path) as f:
    record = json.load(f)
backend = {"cuda": "nccl", "cpu": "gloo"}[device]
where = f"{record['device']}/{record['backend']}"
if not (record["device"].startswith(device) and record["backend"] == backend):
    sys.exit(f"error: {path} ran on {where}, not {device}/{backend}")
print(f"[gpu_check] {path}: {where}, {record['world_size']} rank(s), "
      f"{record['steps']} steps, test AUC {record['test']['auc']:.5f}")
PY
}

environment() {
  if [ "$mode" = gpu ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  fi
  "$py" - <<'PY'
import importlib.metadata as md, platform, torch

print("python", platform.python_version(), "| torch", torch.__version__, "| cuda",
      torch.version.cuda, "| device",
      torch.cuda.get_device_name() if torch.cuda.is_available() else None)
for name in ("fbgemm-gpu", "fbgemm-gpu-cpu", "torchrec", "torchx", "tensordict"):
    try:
        print(name, md.version(name))
    except md.PackageNotFoundError:
        pass
PY
}

step environment environment
cp "$out/logs/environment.log" "$out/environment.txt"
if [ "$mode" = gpu ]; then
  step gpu_tests "$py" -m pytest -q -rs -p no:cacheprovider -m gpu tests/gpu
  step cuda_rowwise_table train cuda_rowwise_table cuda "${rowwise_table[@]}"
  step cuda_adam train cuda_adam cuda --embedding_optimizer adam \
    --embedding_learning_rate 0.001 --dense_precision bf16
  step cuda_decoupled_fbgemm train cuda_decoupled_fbgemm cuda \
    --embedding_optimizer rowwise_adagrad --embedding_l2_mode decoupled \
    --embedding_l2 0.001 --embedding_decay_kernel fbgemm
fi
step cpu_rowwise_table train cpu_rowwise_table cpu "${rowwise_table[@]}"
if [ "$mode" = gpu ]; then
  step compare "$py" -m torchrec_dlf.training.run_comparison \
    "$out/jobs/cpu_rowwise_table" "$out/jobs/cuda_rowwise_table" \
    --auc_tolerance "$auc_tolerance" --logloss_tolerance "$logloss_tolerance" \
    --output "$out/comparison.json"
  step bench_embeddings "$py" launch/bench_embeddings.py --device cuda --preset gpu_check \
    --output_dir "$out/bench"
  step bench_model "$py" launch/bench_model.py --device cuda --preset gpu_check \
    --output_dir "$out/bench"
fi

echo "== summary ($out)"
cat "$out/summary.txt"
echo "== gpu_check finished with status $status"
exit $status
