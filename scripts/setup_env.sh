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
#
# Host-torch mode, for managed clusters whose site provides torch (air-gapped nodes):
#
#   scripts/setup_env.sh --host-torch --wheelhouse DIR     (or TORCHREC_DLF_HOST_TORCH=1
#                                                           TORCHREC_DLF_WHEELHOUSE=DIR)
#
# keeps the torch of PYTHON (or of an existing .venv) and installs, without network,
# from DIR (made by scripts/build_wheelhouse.py on a connected machine) the fbgemm-gpu
# build and torchrec that scripts/stack_compat.tsv pairs with that torch, the
# requirements and the project. DIR's SHA256SUMS is checked first. .venv is created
# with --system-site-packages, so it sees a torch installed in PYTHON's installation
# (system, conda, module); when PYTHON runs in a venv, whose packages a new venv would
# not see that way, .venv gets a .pth file with that venv's site directories instead.
set -euo pipefail
start=$PWD
cd "$(dirname "$0")/.."

host_torch=${TORCHREC_DLF_HOST_TORCH:-0}
wheelhouse=${TORCHREC_DLF_WHEELHOUSE:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --host-torch) host_torch=1 ;;
    --wheelhouse) [ $# -ge 2 ] || { echo "error: --wheelhouse needs a directory" >&2; exit 2; }
                  wheelhouse=$2; shift ;;
    --wheelhouse=*) wheelhouse=${1#--wheelhouse=} ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see scripts/setup_env.sh --help)" >&2; exit 2 ;;
  esac
  shift
done

venv=${VENV:-.venv}
python=${PYTHON:-python3}

die() { echo "error: $*" >&2; exit 2; }

host_torch_install() {
  [ -n "$wheelhouse" ] || die "host-torch mode needs --wheelhouse DIR (or TORCHREC_DLF_WHEELHOUSE), made by scripts/build_wheelhouse.py"
  # Given relative to where the command was typed, not to the checkout.
  case "$wheelhouse" in /*) ;; *) wheelhouse=$start/$wheelhouse ;; esac
  [ -d "$wheelhouse" ] || die "wheelhouse $wheelhouse does not exist"
  wheelhouse=$(cd "$wheelhouse" && pwd)
  # The venv that will hold the stack, and the interpreter whose torch it keeps: an
  # existing venv keeps its own torch, else PYTHON's.
  local target=$venv/bin/python probe
  if [ -x "$target" ]; then probe=$target; else probe=$python; fi
  command -v "$probe" >/dev/null 2>&1 || die "host-torch mode: no interpreter '$probe' (set PYTHON)"
  local torch_version variant python_version
  read -r torch_version variant < <("$probe" scripts/host_stack.py torch) || exit 2
  variant=${TORCHREC_DLF_STACK:-$variant}
  python_version=$("$probe" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  # Checksums, the table and the wheels before anything is created or installed.
  local pins
  pins=$("$probe" scripts/host_stack.py check "$wheelhouse" --torch "$torch_version" \
    --variant "$variant" --python "$python_version") || exit 2

  local digest stamp
  digest=$(cat requirements-common.txt setup.py scripts/stack_compat.tsv \
    "$wheelhouse/SHA256SUMS" <(echo "$torch_version $variant") | sha256sum | cut -c1-16)
  stamp="$venv/.torchrec_dlf-host-${digest}"
  if [ -f "$stamp" ]; then exit 0; fi

  echo "[setup] host-torch mode: torch $torch_version ($variant) of $probe; $(echo $pins) from $wheelhouse"
  if [ ! -x "$target" ]; then
    local dirs site
    dirs=$("$python" scripts/host_stack.py site-dirs)
    if [ -z "$dirs" ]; then
      "$python" -m venv --system-site-packages "$venv"
    else
      # PYTHON is a venv: --system-site-packages would reach its base installation,
      # not its packages; a .pth file puts exactly its site directories on the new
      # venv's path, after the venv's own.
      "$python" -m venv "$venv"
      site=$("$target" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
      printf '%s\n' "$dirs" >"$site/_torchrec_dlf_host_torch.pth"
    fi
  fi
  # Until the stamp below exists, the default mode must not take this venv for its
  # own (it would install its pinned torch over the host's).
  touch "$venv/.torchrec_dlf-host-pending"
  local seen
  seen=$("$target" scripts/host_stack.py torch) || exit 2
  [ "${seen%% *}" = "$torch_version" ] || die "$target sees torch ${seen%% *}, not $torch_version"

  # Only the checked wheelhouse: no index, and no pip configuration (a site pip.conf
  # or PIP_* variables, which pip's build subprocesses would still read, could add
  # find-links or an index whose files were not checked).
  local unset_pip=() name
  for name in $(compgen -e); do
    case "$name" in PIP_*) unset_pip+=(-u "$name") ;; esac
  done
  hpip() {
    env "${unset_pip[@]}" PIP_CONFIG_FILE=/dev/null \
      "$target" -m pip --isolated --disable-pip-version-check -q "$@"
  }
  local finder=(--no-index --find-links "$wheelhouse")
  # The host's torch stays exactly as it is: no requirement may replace it.
  constraints=$(mktemp)
  trap 'rm -f "$constraints"' EXIT
  echo "torch==$torch_version" >"$constraints"
  if compgen -G "$wheelhouse/pip-*.whl" >/dev/null; then
    # A venv's bundled pip may be old enough to want `wheel` for the project's build.
    hpip install "${finder[@]}" --upgrade pip || die "pip could not upgrade itself from $wheelhouse"
  fi
  hpip install "${finder[@]}" -c "$constraints" -r requirements-common.txt \
    || die "pip could not install requirements-common.txt from $wheelhouse (its message is above)"
  # torchrec declares the CUDA fbgemm-gpu; its real dependencies are in the
  # requirements, so it and the variant's fbgemm build go in without theirs.
  # shellcheck disable=SC2086
  hpip install "${finder[@]}" --no-deps $pins \
    || die "pip could not install $(echo $pins) from $wheelhouse (its message is above)"
  # Built in an isolated environment with the wheelhouse's setuptools (no network);
  # its notice about editable installs is for developers of setuptools projects.
  PYTHONWARNINGS=ignore hpip install "${finder[@]}" --no-deps -e . \
    || die "pip could not install this project (it builds with the setuptools of $wheelhouse)"
  "$target" -c "import torch, fbgemm_gpu, torchrec, torchx; print('[setup] torch', torch.__version__, '| fbgemm_gpu and torchrec from the wheelhouse')" \
    || die "the installed stack does not import in $target (the traceback is above)"
  rm -f "$venv"/.torchrec_dlf-*
  touch "$stamp"
}

if [ "$host_torch" = 1 ]; then
  host_torch_install
  exit 0
fi

if [ -e "$venv/.torchrec_dlf-host-pending" ]; then
  die "$venv is being set up in host-torch mode and that install did not finish: run scripts/setup_env.sh --host-torch --wheelhouse DIR again"
fi
if compgen -G "$venv/.torchrec_dlf-host-*" >/dev/null; then
  # Set up in host-torch mode: the pinned stack would replace the site's torch (and
  # needs the network). Re-run with --host-torch to update it.
  exit 0
fi

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
