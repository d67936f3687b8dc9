#!/usr/bin/env bash
# One generating step as a SLURM job array, merged by one dependent job.
#
#   bash scripts/sbatch_array.sh submit N STAGE ARGS...    submit N shard jobs and the merge after them
#   sbatch --array=0-3 scripts/sbatch_array.sh STAGE ARGS...   (what `submit` sends) one shard per task
#
# STAGE is a generating stage (sample, critique, refine, critic_paths, critic_annotate,
# critic_filter) and ARGS its usual arguments, e.g. for iteration 1's samples of runs/exp:
#
#   bash scripts/sbatch_array.sh submit 8 sample --run-dir runs/exp --iter 1 \
#       --actor-model runs/exp/iter_0/actor --n 10 --temperature 0.7
#
# Task i runs `python -m selfimprove STAGE ARGS --shard i/N`; the merge job runs
# `python -m selfimprove STAGE ARGS --merge-shards N` once every task succeeded, and records the
# step in the run's manifest (the drivers then skip it). A failed or preempted task can simply be
# resubmitted: a shard continues from the records it wrote. The run folder must be on a
# filesystem every node shares (docs/scaling.md says what it must provide).
#
# Environment: PYTHON (default .venv/bin/python of the checkout), SBATCH_ARGS (extra sbatch
# options for both, e.g. "--partition=gpu --account=me"), SHARD_SBATCH_ARGS (the shard jobs only).
#SBATCH --job-name=mc-shard
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --output=mc-shard-%A_%a.log
set -euo pipefail

if [[ "${1:-}" == submit ]]; then
  n="${2:?usage: sbatch_array.sh submit N STAGE ARGS...}"
  shift 2
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "sbatch_array: N must be a positive integer, got $n" >&2; exit 2; }
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
  # shellcheck disable=SC2086
  array=$(sbatch --parsable --array="0-$((n - 1))" ${SBATCH_ARGS:-} ${SHARD_SBATCH_ARGS:-} "$here" "$@")
  array="${array%%;*}"
  # shellcheck disable=SC2086
  merge=$(sbatch --parsable --dependency="afterok:${array}" --job-name=mc-merge --gres=none --cpus-per-task=2 \
    --output=mc-merge-%j.log ${SBATCH_ARGS:-} --export=ALL,MC_MERGE="$n" "$here" "$@")
  echo "shards: job array ${array} (${n} tasks); merge: job ${merge%%;*} after them"
  exit 0
fi

stage="${1:?usage: sbatch_array.sh STAGE ARGS... (inside a SLURM array), or submit N STAGE ARGS...}"
shift
cd "${SLURM_SUBMIT_DIR:-$(pwd)}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." 2>/dev/null && pwd || pwd)"
[[ -f "$root/selfimprove/__init__.py" ]] || root="$(pwd)"  # sbatch runs a copy of this script
py="${PYTHON:-$root/.venv/bin/python}"
if [[ -n "${MC_MERGE:-}" ]]; then
  exec "$py" -m selfimprove "${stage}" "$@" --merge-shards "$MC_MERGE"
fi
: "${SLURM_ARRAY_TASK_ID:?not a SLURM array task: submit with 'bash scripts/sbatch_array.sh submit N ...'}"
count="${SLURM_ARRAY_TASK_COUNT:-$((SLURM_ARRAY_TASK_MAX + 1))}"
exec "$py" -m selfimprove "${stage}" "$@" --shard "${SLURM_ARRAY_TASK_ID}/${count}"
