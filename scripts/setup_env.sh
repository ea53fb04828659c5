#!/usr/bin/env bash
# Creates the project's virtual environment (.venv) if it is missing and installs the
# pinned stack for this host: the CUDA stack when nvidia-smi sees a GPU, else the CPU
# stack. Re-running is cheap: nothing is installed again unless the pins changed.
#
#   TORCHREC_DLF_STACK=cpu|cuda   force a stack
#   PYTHON=python3.11             interpreter used to create .venv
#   TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
#                                 extra pip arguments for torch itself (on a CPU host
#                                 without a local torch wheel, this avoids the CUDA build)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
python=${PYTHON:-python3}
if [ -z "${TORCHREC_DLF_STACK:-}" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    TORCHREC_DLF_STACK=cuda
  else
    TORCHREC_DLF_STACK=cpu
  fi
fi
req="requirements-${TORCHREC_DLF_STACK}.txt"
[ -f "$req" ] || { echo "unknown stack '$TORCHREC_DLF_STACK' (no $req)" >&2; exit 2; }

digest=$(cat "$req" requirements-common.txt setup.py | sha256sum | cut -c1-16)
stamp="$venv/.torchrec_dlf-${TORCHREC_DLF_STACK}-${digest}"
if [ -f "$stamp" ]; then
  exit 0
fi

echo "[setup] ${TORCHREC_DLF_STACK} stack into $venv (one-time, a few minutes)"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip() { "$venv/bin/python" -m pip --disable-pip-version-check -q "$@"; }
pip install --upgrade pip
# torch first and alone, so no later requirement can pull another build of it.
pip install ${TORCH_PIP_ARGS:-} "$(grep -E '^torch==' "$req")"
pip install -r "$req"
pip install --no-deps torchrec==1.8.0
pip install --no-deps --no-build-isolation -e .
"$venv/bin/python" -c "import torch, fbgemm_gpu, torchrec, torchx, pyarrow; print('[setup] torch', torch.__version__, '| torchrec', torchrec.__version__ if hasattr(torchrec, '__version__') else '1.8.0')"
rm -f "$venv"/.torchrec_dlf-*
touch "$stamp"
