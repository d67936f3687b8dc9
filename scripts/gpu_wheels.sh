#!/usr/bin/env bash
# Prepare the wheels scripts/gpu_check.sh installs on a GPU machine that has no network but
# has PyTorch and transformers (and the usual scientific stack) preinstalled.
#
#   bash scripts/gpu_wheels.sh [DIR] [PYTHON_VERSION]      (default: .gpu-wheels, 3.12)
#
# What travels: LLaMA-Factory and the versions of its training stack that .venv-train pins
# (transformers 5.6 with its tokenizers and hub client, accelerate, peft, trl, datasets),
# DeepSpeed (built here as a wheel without compiled ops: ZeRO-2 with torch's AdamW needs none),
# and the few pure-Python packages those import that such a machine tends to lack. vLLM does not
# travel (its CUDA wheel alone is several hundred MB): the check measures the transformers engine.
# About 30 MB in all; the script fails if the folder exceeds 64 MiB.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${1:-$ROOT/.gpu-wheels}"
PYV="${2:-3.12}"
PIP=("${PYTHON:-$ROOT/.venv/bin/python}" -m pip)
mkdir -p "$DIR"

# name==version, one per line: pinned as in requirements/train.txt and .venv-train
PURE=(
  llamafactory==0.9.5 transformers==5.6.0 huggingface_hub==1.33.0 accelerate==1.11.0 peft==0.18.1
  trl==0.24.0 datasets==4.0.0 dill==0.3.8 multiprocess==0.70.16 fsspec==2025.3.0 omegaconf==2.4.0
  hjson==3.1.0 pydantic==2.12.3 annotated-types==0.8.0 typing-inspection==0.4.5
)
BINARY=(tokenizers==0.22.2 pydantic_core==2.41.4)

platforms=()
for n in 2_17 2_28 2_27 2_24; do platforms+=(--platform "manylinux_${n}_x86_64"); done
platforms+=(--platform manylinux2014_x86_64)

"${PIP[@]}" download --quiet --no-deps --only-binary=:all: --python-version "$PYV" --implementation cp \
  "${platforms[@]}" -d "$DIR" "${PURE[@]}" "${BINARY[@]}"
# DeepSpeed publishes only a source archive: build it here once, without its C++/CUDA ops.
if ! ls "$DIR"/deepspeed-0.19.8-*.whl >/dev/null 2>&1; then
  DS_BUILD_OPS=0 "${PIP[@]}" wheel --quiet --no-deps --no-build-isolation -w "$DIR" deepspeed==0.19.8 \
    || DS_BUILD_OPS=0 "${PIP[@]}" wheel --quiet --no-deps -w "$DIR" deepspeed==0.19.8
fi
size=$(du -sm "$DIR" | cut -f1)
echo "[gpu_wheels] $(ls "$DIR"/*.whl | wc -l) wheels, ${size} MiB in $DIR"
(( size <= 64 )) || { echo "[gpu_wheels] ERROR: over the 64 MiB that may travel" >&2; exit 1; }
