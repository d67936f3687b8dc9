# Sourced by each driver right after `set -euo pipefail` and ROOT, with the driver's name:
#   source "${ROOT}/selfimprove/driver-begin.sh" inference|evaluate|critic|selftalk
# It checks every knob of that driver (selfimprove/core/config.py), takes the run lock of
# runs/$EXP_NUM, records the whole resolved configuration in the manifest, and defines for the
# driver: every knob as a shell variable, RUN, the critic and one-player drivers' files[role] and
# steps[role] (selfimprove/core/layout.py), py COMMAND ARGS... (python -m selfimprove COMMAND) and
# stage COMMAND... (any other command that is a step of the run, e.g. a nested driver).
#
# Stopping. SIGTERM, SIGINT and SIGHUP (and SIGUSR1/SIGUSR2, which `sbatch --signal=B:USR1@300`
# sends ahead of a SLURM time limit) stop the run cleanly. A stage runs in the background while
# the driver waits for it, so the signal reaches the trap below at once; the trap forwards it to
# the stage (SIGUSR1/2 as SIGTERM: vLLM uses SIGUSR1 between its own processes) and waits until
# the stage has flushed its last whole records, ended the processes it started and said in one
# line where it stopped (selfimprove/core/stop.py); then the driver exits with 128 + the signal's
# number and the EXIT trap releases the lock. A stage ignores the signals for its first instants,
# until it handles them itself, so the driver sends the signal again during the first seconds;
# it ignores SIGUSR1/2 throughout (sent to the whole group, they reach the driver's trap).
# A signal while `config begin` runs is acted on as soon as the lock is held; a signal between
# two steps is one line from the driver. Further signals while it stops change nothing.
#
# The lock. `config begin` records the driver in runs/$EXP_NUM/.run.lock; the driver then holds an
# flock on runs/$EXP_NUM/.run.lock.held through a descriptor every stage inherits, so the lock
# stays held while any process of the run lives, even when the driver itself is SIGKILLed (see
# selfimprove/core/runlock.py).
PYTHON="${PYTHON:-${ROOT}/.venv/bin/python}"
[ -x "${PYTHON}" ] || { echo "error: ${PYTHON} not found; run 'bash scripts/setup_env.sh' (or make demo)" >&2; exit 2; }
_stage_pid="" _stage_rc="" _stopping="" _forward="" _begun="" _run_lock_fd=""
_ended() {  # PID: gone, or ended and not yet waited for (where ps can tell)
  ! kill -0 "$1" 2>/dev/null || case "$(ps -o stat= -p "$1" 2>/dev/null)" in Z*) true ;; *) false ;; esac
}
_stop() {  # SIGNAL [SIGNAL FOR THE STAGE]
  local status=$? pause
  [ -z "${_stopping}" ] || return 0
  _stopping="$1" _forward="${2:-$1}"
  [ -n "${_begun}" ] || return 0  # still taking the lock: acted on as soon as it is held (below)
  if [ -n "${_stage_pid}" ] && kill -0 "${_stage_pid}" 2>/dev/null; then
    kill -s "${_forward}" "${_stage_pid}" 2>/dev/null || true
    for pause in 0.1 0.2 0.3 0.4 0.5 0.5 0.5 0.5; do  # again, in case the stage was still starting
      if _ended "${_stage_pid}"; then break; fi
      sleep "${pause}"
      kill -s "${_forward}" "${_stage_pid}" 2>/dev/null || true
    done
    while :; do  # its exit code (bash keeps it when it has reaped the process already)
      status=0
      wait "${_stage_pid}" 2>/dev/null || status=$?
      if ! kill -0 "${_stage_pid}" 2>/dev/null; then break; fi  # else: wait was cut short by a signal
    done
  elif [ -n "${_stage_pid}" ]; then
    status="${_stage_rc:-${status}}"  # it has just ended: its exit code, kept by _run_stage or still in $?
  else
    status="${_stage_rc:-none}"  # between two steps: the last one's exit code
  fi
  # the stage said where it stopped when it ended on the signal (a nested driver: on either one)
  if [ "${status}" != $((128 + $(kill -l "${_forward}"))) ] && [ "${status}" != $((128 + $(kill -l "$1"))) ]; then
    echo "error: stopped by SIG$1 between two steps; rerun the same command to continue where it stopped" >&2
  fi
  exit $((128 + $(kill -l "$1")))
}
_end() {  # release the lock (the EXIT trap); no signal cuts it short
  if [ -n "${_run_lock_fd}" ]; then exec {_run_lock_fd}>&-; fi
  (trap '' TERM INT HUP; MATHCRITIQUE_STOP_SIGNALS='' exec "${PYTHON}" -m selfimprove config end --run-dir "${RUN}" --owner-pid $$)
}
_stop_signals=""
for _sig in TERM INT HUP; do  # a signal ignored when the driver started (nohup) stays ignored
  trap "_stop ${_sig}" "${_sig}"
  case "$(trap -p "${_sig}")" in *_stop*) _stop_signals="${_stop_signals:+${_stop_signals} }${_sig}" ;; esac
done
trap '_stop USR1 TERM' USR1
trap '_stop USR2 TERM' USR2
# PLAN=1: print what the run would do, write runs/$EXP_NUM/plan.json (selfimprove/stages/plan.py) and
# stop here: no stage runs, and the run lock is neither taken nor released
if [ "${PLAN:-0}" != 0 ]; then exec "${PYTHON}" -m selfimprove plan "$1"; fi
config="$(trap '' TERM INT HUP; MATHCRITIQUE_STOP_SIGNALS='' exec "${PYTHON}" -m selfimprove config begin "$1" --owner-pid $$)"
eval "${config}"
trap _end EXIT
if [ -n "${_run_lock_held}" ]; then  # empty when a driver of this run called this one (it holds the lock)
  exec {_run_lock_fd}>>"${_run_lock_held}"
  "${PYTHON}" -c 'import fcntl, sys; fcntl.flock(int(sys.argv[1]), fcntl.LOCK_EX | fcntl.LOCK_NB)' "${_run_lock_fd}" 2>/dev/null \
    || { echo "error: ${_run_lock_held} is held by another process of experiment ${EXP_NUM}; wait for it, or use another EXP_NUM" >&2; exit 75; }
fi
_begun=1
if [ -n "${_stopping}" ]; then _sig="${_stopping}"; _stopping=""; _stop "${_sig}" "${_forward}"; fi
export MATHCRITIQUE_STOP_SIGNALS="${_stop_signals}"
export VLLM_CPU_NUM_OF_RESERVED_CPU="${VLLM_CPU_NUM_OF_RESERVED_CPU:-0}" VLLM_LOGGING_LEVEL="${VLLM_LOGGING_LEVEL:-WARNING}"
stage() { _run_stage "" "$@"; }  # COMMAND...: a step that is not a stage of the package (a nested driver)
py() { _run_stage "${_stop_signals} USR1 USR2" "${PYTHON}" -m selfimprove "$@"; }  # USR1/2: for the driver
_run_stage() {  # SIGNALS_IGNORED_UNTIL_HANDLED COMMAND...: in the background, waited for; its exit code
  local ignore="$1"
  shift
  if [ "${BASH_SUBSHELL}" -gt 0 ]; then  # inside $(...): a quick look-up; the driver's trap runs after it
    if [ -n "${ignore}" ]; then (trap '' ${ignore}; MATHCRITIQUE_STOP_SIGNALS='' exec "$@"); else "$@"; fi
    return
  fi
  _stage_rc=""
  (
    trap - INT QUIT  # a background command would ignore SIGINT
    if [ -n "${ignore}" ]; then trap '' ${ignore}; fi  # lost, not fatal, until the stage handles them
    exec "$@"
  ) &
  _stage_pid=$!
  wait "${_stage_pid}" || _stage_rc=$?
  _stage_rc="${_stage_rc:-0}" _stage_pid=""  # one command: the trap sees both or neither
  return "${_stage_rc}"
}
