#!/usr/bin/env bash
# A GPU check for one machine with one GPU, PyTorch and transformers preinstalled, and no network.
#
#   bash scripts/gpu_check.sh --wheels DIR [--out DIR] [--big-layers N]     on the GPU machine
#   PYTHON=.venv-train/bin/python bash scripts/gpu_check.sh --cpu --tiny    the same code on CPU
#
# Installs what it needs from DIR (prepared here by `bash scripts/gpu_wheels.sh DIR`, ~22 MiB:
# LLaMA-Factory, DeepSpeed and their training stack; not vLLM, whose CUDA wheel is far too big)
# into OUT/site, then measures (scripts/gpu_check.py):
#   gen-small  our transformers engine, bf16, on the embedded model's shape (random weights)
#   sft-small  LLaMA-Factory full SFT, DeepSpeed ZeRO-2, bf16, a few steps: step time, peak memory
#   gen-8b     the same engine on a Llama-3-8B-shaped model (config only, random weights)
#   sft-8b     the same SFT on it
# and prints one table (also OUT/table.md, OUT/results.json). About 5 minutes on one H200.
# --cpu --tiny: CPU, tiny configs, no DeepSpeed, fp32 - the code path the tests run (~1 minute).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="" OUT="${TMPDIR:-/tmp}/gpu_check" PASS=()
usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --wheels) WHEELS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --cpu | --tiny) PASS+=("$1"); shift ;;
    --big-layers | --part-timeout) PASS+=("$1" "$2"); shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "gpu_check: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null || { echo "gpu_check: no interpreter $PY (set PYTHON=...)" >&2; exit 2; }
mkdir -p "$OUT"

if [[ -n "$WHEELS" ]]; then
  ls "$WHEELS"/*.whl >/dev/null 2>&1 || { echo "gpu_check: no wheels in $WHEELS" >&2; exit 2; }
  echo "[gpu_check] installing $(ls "$WHEELS"/*.whl | wc -l) wheels from $WHEELS into $OUT/site"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$OUT/site" "$WHEELS"/*.whl
  export PYTHONPATH="$OUT/site${PYTHONPATH:+:$PYTHONPATH}"
fi
# nothing may reach a hub; LLaMA-Factory's own version pins are what the wheels satisfy
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export DISABLE_VERSION_CHECK=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 DS_BUILD_OPS=0
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

"$PY" - <<'PY' || { echo "gpu_check: the environment is incomplete (see above); pass --wheels DIR" >&2; exit 2; }
import importlib
for name in ("torch", "transformers", "llamafactory", "deepspeed", "selfimprove.generation.engines"):
    m = importlib.import_module(name)
    print(f"[gpu_check] {name} {getattr(m, '__version__', '')}")
PY
cd "$OUT"  # LLaMA-Factory and DeepSpeed write caches relative to the working directory
exec "$PY" "$ROOT/scripts/gpu_check.py" --out "$OUT" "${PASS[@]}"
