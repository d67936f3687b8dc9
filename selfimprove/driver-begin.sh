# Sourced by each driver right after `set -euo pipefail` and ROOT, with the driver's name:
#   source "${ROOT}/selfimprove/driver-begin.sh" inference|evaluate|critic|selftalk
# It checks every knob of that driver (selfimprove/core/config.py), takes the run lock of
# runs/$EXP_NUM, records the whole resolved configuration in the manifest, and defines for the
# driver: every knob as a shell variable, RUN, the critic and one-player drivers' files[role] and
# steps[role] (selfimprove/core/layout.py), and py STAGE ARGS... (python -m selfimprove.STAGE).
# The lock is released when the driver exits.
PYTHON="${PYTHON:-${ROOT}/.venv/bin/python}"
[ -x "${PYTHON}" ] || { echo "error: ${PYTHON} not found; run 'bash scripts/setup_env.sh' (or make demo)" >&2; exit 2; }
config="$("${PYTHON}" -m selfimprove.config begin "$1" --owner-pid $$)"
eval "${config}"
trap '"${PYTHON}" -m selfimprove.config end --run-dir "${RUN}" --owner-pid $$' EXIT
export VLLM_CPU_NUM_OF_RESERVED_CPU="${VLLM_CPU_NUM_OF_RESERVED_CPU:-0}" VLLM_LOGGING_LEVEL="${VLLM_LOGGING_LEVEL:-WARNING}"
py() { "${PYTHON}" -m "selfimprove.$@"; }
