#!/usr/bin/env bash
# One of the paper's experiments as one command: every cell of a sweep preset's grid, then one
# comparison across the cells (docs/experiments.md).
#
#   SCALE=tiny bash scripts/sweep.sh selfimprove/presets/fig6.env    # embedded model, CPU
#   SCALE=paper bash scripts/sweep.sh fig6                           # the paper's models, GPUs
#
# Each cell runs the preset's drivers (selfimprove/<driver>-all.sh) with its own EXP_NUM in
# RUNS_DIR/<sweep>/<cell>/; the grid and every cell's knobs and status are in RUNS_DIR/<sweep>/sweep.json.
# Rerunning the same command continues: a finished cell is skipped, an interrupted one resumes
# (its drivers skip their finished steps). A failing cell stops the sweep with its exit code.
# At the end python -m selfimprove compare reads every evaluated cell and writes report.md,
# comparison.json and plots into RUNS_DIR/<sweep>/; for a sweep whose cells run only the critic
# driver (selfimprove/presets/critic_curve.env) python -m selfimprove critic_curve writes the
# critic's learning curve there instead (report.md, comparison.json, critic_curve.png).
#
# ---------------------------------------------------------------------------------- knobs
#   SCALE             tiny (default) or paper: which section of the preset applies
#   SWEEP_NAME        folder of the sweep under RUNS_DIR (default: the preset's file name)
#   RUNS_DIR          where runs go (default: runs/)
#   PYTHON            interpreter with the inference stack (default: .venv/bin/python)
#   SWEEP_DRIVER_DIR  folder of the driver scripts (default: selfimprove/)
#   TRAIN_REUSE_DIR   fine-tunings shared between cells when their arguments, data and base model
#                     are the same, e.g. every cell's iteration 0 (default: RUNS_DIR/<sweep>/shared_training;
#                     empty = every cell trains its own)
#   PLAN              1: print what every cell would do (steps, prompts, token budgets, training, GPU-hours;
#                     PLAN_GPUS, PLAN_TOKENS_PER_S, PLAN_TRAIN_TOKENS_PER_S as for the drivers), write
#                     RUNS_DIR/<sweep>/plan.json and stop before any cell runs
#   any driver knob   replaces the preset's line for it (the cells' grid values still apply)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-${ROOT}/.venv/bin/python}"
[ -x "${PYTHON}" ] || { echo "error: ${PYTHON} not found; run 'bash scripts/setup_env.sh'" >&2; exit 2; }
[ $# -eq 1 ] || { echo "usage: [SCALE=tiny|paper] bash scripts/sweep.sh PRESET" >&2; exit 2; }
preset="$1"
if [ -f "${preset}" ]; then preset="$(cd "$(dirname "${preset}")" && pwd)/$(basename "${preset}")"; fi
cd "${ROOT}"   # relative paths in presets and knobs are relative to the checkout
DRIVER_DIR="${SWEEP_DRIVER_DIR:-${ROOT}/selfimprove}"
py() { "${PYTHON}" -m selfimprove "$@"; }
# PLAN=1: print every cell's plan, write RUNS_DIR/<sweep>/plan.json (selfimprove/stages/plan.py), run nothing
if [ "${PLAN:-0}" != 0 ]; then exec "${PYTHON}" -m selfimprove plan --sweep "${preset}"; fi

plan="$(py sweep plan "${preset}" --owner-pid $$)"
eval "${plan}"   # SWEEP_DIR=..., cells=(...)
trap '"${PYTHON}" -m selfimprove sweep end "${SWEEP_DIR}" --owner-pid $$' EXIT
export TRAIN_REUSE_DIR="${TRAIN_REUSE_DIR-${SWEEP_DIR}/shared_training}"
echo "sweep ${SWEEP_DIR}: ${#cells[@]} cells"

declare -A knobs
for cell in "${cells[@]}"; do
  knobs=()
  step="$(py sweep start "${SWEEP_DIR}" "${cell}")"
  eval "${step}"   # skip=0|1, drivers=(...), knobs[DRIVER]=export lines
  if [ "${skip}" -eq 1 ]; then echo "== ${cell}: done, skipped"; continue; fi
  echo "== ${cell}"
  for driver in "${drivers[@]}"; do
    rc=0
    ( eval "${knobs[${driver}]}"; exec bash "${DRIVER_DIR}/${driver}-all.sh" ) || rc=$?
    if [ "${rc}" -ne 0 ]; then
      py sweep finish "${SWEEP_DIR}" "${cell}" failed --rc "${rc}" --driver "${driver}"
      echo "error: cell ${cell}: ${driver}-all.sh exited with ${rc}; fix it and rerun the same command to continue" >&2
      exit "${rc}"
    fi
  done
  if [[ " ${drivers[*]} " == *" inference "* && " ${drivers[*]} " == *" evaluate "* ]]; then
    py summary "${SWEEP_DIR}/${cell}" >/dev/null || true   # accuracy.json gets the evaluation's test accuracy
  fi
  py sweep finish "${SWEEP_DIR}" "${cell}" done
done

curve="$(py sweep critic-runs "${SWEEP_DIR}")"   # a sweep of the critic driver alone: its learning curve
if [ -n "${curve}" ]; then
  mapfile -t runs <<< "${curve}"
  py critic_curve "${runs[@]}" --out "${SWEEP_DIR}"
  echo "report: ${SWEEP_DIR}/report.md"
  exit 0
fi
listed="$(py sweep runs "${SWEEP_DIR}")"
if [ -z "${listed}" ]; then
  echo "no cell was evaluated; nothing to compare (cells: ${SWEEP_DIR})"
  exit 0
fi
mapfile -t runs <<< "${listed}"
py compare "${runs[@]}" --out "${SWEEP_DIR}"
echo "report: ${SWEEP_DIR}/report.md"
