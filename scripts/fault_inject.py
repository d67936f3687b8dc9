"""Fault injection: signal tiny runs at random points of every stage, rerun them, check what survived.

    python scripts/fault_inject.py --out /tmp/faults --rounds 1     # every signal, both ways, + damage and disks
    python scripts/fault_inject.py --out /tmp/faults --signals TERM --modes pid   # one kind of signal only
    python scripts/fault_inject.py --out /tmp/faults --embedded     # ... and a kill/rerun on the embedded model
    python scripts/fault_inject.py --out /tmp/costs --costs         # what the guarantees cost here

A *world* is a folder that makes the drivers cheap without changing them: a ``sitecustomize.py``
(found through ``PYTHONPATH``) that registers :class:`FaultEngine` under the engine names ``hf``
and ``vllm`` as soon as the engine registry is imported (and can make the runs' disk full on
demand, :data:`DISK_HOOK`), a stand-in ``llamafactory-cli`` (``LLAMAFACTORY_CLI``) that writes a
small but complete model folder after a pause, and a stand-in base model. The scripted engine
answers from a hash of the prompt (never of the seed or sample index), so a resumed run writes
the same records as an uninterrupted one; it sleeps ``FAULT_ENGINE_DELAY`` seconds per prompt so
that a signal lands in the middle of a stage.

Each round starts a fresh run per scenario, signal (``--signals``: KILL, TERM, INT, HUP, USR1) and way
of sending it (``--modes``: ``group``, the driver's whole process group as a terminal's Ctrl-C or
a batch system does; ``pid``, the driver alone) and aims one signal at each target step in turn:
the driver is started in its own process group, the signal is sent at a random moment after the
step starts, and the next start resumes what it left. SIGTERM, SIGINT and SIGHUP must stop the
run cleanly (exit code 128 + the signal, one line saying where it stopped and that a rerun
continues, no traceback, no process of the run left, the run lock released); a SIGKILL of the
driver alone leaves its stage running, which must keep the run locked (a second driver started
meanwhile is refused). A last start runs to the end and must leave: every JSONL with unique ids
and the id set of the uninterrupted reference run, no torn lines, every step of the manifest
done with its files as recorded, every trained model folder complete and no ``*.partial``
folder. Damage done by hand (a truncated last line, a deleted line, an invalid
``manifest.json``, a deleted ``model.safetensors``) must be repaired by the rerun or refused with
a message saying what to do. A disk that fills while a stage writes (a 16 MB tmpfs where one
can be mounted, else an injected ENOSPC), a disk without room for the next model copy and an
unwritable runs folder must each be one line and exit code 1 or 2, and the rerun once the disk
has room must complete with the reference ids.

The output is a JSON summary (and ``results.json`` with every signal sent): kills tried, where
each one landed, records lost, duplicated and unexpected, processes left behind, and a table per
signal. One file on purpose (over 400 lines): every process of a world imports it by name from
``scripts/``, and the world, the kills and the checks are one tool.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DRIVERS = ROOT / "selfimprove"

# ----------------------------------------------------------------------------- the scripted world

SITECUSTOMIZE = """\
# written by scripts/fault_inject.py: replaces the model engines by its scripted engine
import importlib.abc, sys

_TARGET = "selfimprove.generation.engines.registry"


class _Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != _TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            sys.path.insert(0, {scripts!r})
            import fault_inject

            fault_inject.register(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _Hook())
"""

DISK_HOOK = """
# a disk that fills on demand (fault_inject's Disk where no tmpfs can be mounted): while the file
# FAULT_DISK_FULL names holds "full", fsync of a file under RUNS_DIR fails with ENOSPC and the free
# space there reads 0; while it holds "space", only the free space reads 0
import os as _os

_flag = _os.environ.get("FAULT_DISK_FULL")
if _flag:
    import errno as _errno
    import shutil as _shutil

    _runs = _os.path.realpath(_os.environ.get("RUNS_DIR", "runs")) + _os.sep

    def _state():
        try:
            with open(_flag) as f:
                return f.read().strip()
        except OSError:
            return ""

    def _under(path):
        return bool(path) and (_os.path.realpath(path) + _os.sep).startswith(_runs)

    _fsync, _disk_usage = _os.fsync, _shutil.disk_usage

    def _fsync_on_a_full_disk(fd):
        if _state() == "full":
            try:
                where = _os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                where = ""
            if _under(where):
                raise OSError(_errno.ENOSPC, _os.strerror(_errno.ENOSPC))
        return _fsync(fd)

    def _disk_usage_on_a_full_disk(path):
        usage = _disk_usage(path)
        return usage._replace(free=0) if _state() and _under(str(path)) else usage

    _os.fsync, _shutil.disk_usage = _fsync_on_a_full_disk, _disk_usage_on_a_full_disk
"""

FAKE_TRAINER = """\
#!{python}
# written by scripts/fault_inject.py: stands in for `llamafactory-cli train ARGS.yaml`
import json, os, struct, sys, time
from pathlib import Path

args = {{}}
for line in open(sys.argv[2]):
    k, _, v = line.partition(": ")
    args[k] = json.loads(v)
out = Path(args["output_dir"])
out.mkdir(parents=True, exist_ok=True)
(out / "config.json").write_text(json.dumps({{"model_type": "fault"}}))
time.sleep(float(os.environ.get("FAULT_TRAIN_SECONDS", "1")))
head = json.dumps({{"w": {{"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}}}).encode()
(out / "model.safetensors").write_bytes(struct.pack("<Q", len(head)) + head + bytes(16))
(out / "tokenizer_config.json").write_text("{{}}")
(out / "tokenizer.json").write_text("{{}}")
(out / "train_results.json").write_text(json.dumps({{"train_loss": 1.0, "train_runtime": 1.0}}))
print("trained")
"""


def write_model(folder: Path) -> Path:
    """A small model folder that passes the weight checks (config, tokenizer file, safetensors)."""
    import struct

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "fault"}))
    (folder / "tokenizer_config.json").write_text("{}")
    (folder / "tokenizer.json").write_text("{}")
    head = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(head)) + head + bytes(16))
    return folder


def make_world(folder: Path, engine_delay: float = 0.05, train_seconds: float = 1.0) -> dict[str, str]:
    """Write the hook, the stand-in trainer and base model into ``folder``; the environment that uses them."""
    hook = folder / "hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(
        SITECUSTOMIZE.format(scripts=str(Path(__file__).resolve().parent)) + DISK_HOOK
    )
    cli = hook / "llamafactory-cli"
    cli.write_text(FAKE_TRAINER.format(python=sys.executable))
    cli.chmod(0o755)
    model = write_model(folder / "base-model")
    return {
        "PYTHONPATH": str(hook),
        "LLAMAFACTORY_CLI": str(cli),
        "ENGINE": "hf",
        "model_name": str(model),
        "FAULT_ENGINE_DELAY": str(engine_delay),
        "FAULT_TRAIN_SECONDS": str(train_seconds),
    }


def register(registry: Any) -> None:
    """Called by the world's ``sitecustomize`` once the engine registry is imported."""
    registry.register_engine("hf", FaultEngine)
    registry.register_engine("vllm", FaultEngine)


def _engine_base() -> type:
    from selfimprove.generation.engines.base import Engine

    return Engine


class FaultEngine(_engine_base()):  # type: ignore[misc]
    """Scripted answers from a hash of the prompt's text: about a third of the solutions carry the
    gold answer (looked up in the run's question files), critiques follow the verdict format."""

    def __init__(self, name: str = "fault"):
        self.name = name
        self.delay = float(os.environ.get("FAULT_ENGINE_DELAY", "0"))
        self._gold: dict[str, str] | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> FaultEngine:
        return cls(settings.model)

    def gold(self, message: str) -> str | None:
        if self._gold is None:
            from selfimprove.generation.prompts import question_message

            self._gold = {}
            run = Path(os.environ.get("RUNS_DIR", "runs")) / os.environ.get("EXP_NUM", "demo")
            for path in [*run.glob("data/*.jsonl"), *run.glob("critic/data/*.jsonl")]:
                for line in path.read_text(encoding="utf-8").splitlines():
                    q = json.loads(line)
                    self._gold[question_message(q["question"], q["dataset_type"])] = str(q["gold"])
        return self._gold.get(message)

    def answer(self, prompt: Any) -> str:
        texts = [m["content"] for m in prompt.messages]
        h = int(hashlib.sha256("\n".join([*texts, prompt.prefix]).encode()).hexdigest()[:8], 16)
        if texts[-1].startswith("Instruction:\nFor a given question"):  # a critique request
            verdict = "Wrong" if h % 3 else "Correct"
            return (
                f"Step sentence: the first step\nCorrectness of the step: {verdict}\nExplanation: checked.\n\n"
                f"Correctness of the final answer: {verdict}\nExplanation: checked."
            )
        gold = self.gold(texts[0])
        answer = gold if gold is not None and h % 3 == 0 else str(1000 + h % 997)
        if "boxed" in texts[0]:
            answer = f"$\\boxed{{{answer}}}$"
        return f"We read the numbers.\nWe combine them.\nThe answer is {answer}."

    def generate(self, prompts, params):
        from selfimprove.generation.engines.base import Completion

        prompts = list(prompts)
        out = []
        for p in prompts:
            time.sleep(self.delay)
            text = self.answer(p)
            out.append([Completion(text, "stop", len(str(p).split()), len(text.split())) for _ in range(params.n)])
        return out


# ----------------------------------------------------------------------------- scenarios

TINY_INFERENCE = {
    "train_limit": "6",
    "test_limit": "3",
    "sample_num": "2",
    "max_tokens": "48",
    "critic_max_tokens": "64",
    "MV_NUM": "1",
    "ITER_NUM": "1",
    "EVAL_ITERS": "1",
    "FEEDBACK_FILE": "",
    "USE_GPT4_FEEDBACK": "0",
}
TINY_CRITIC = {
    "critic_train_limit": "4",
    "critic_test_limit": "4",
    "max_tokens": "48",
    "critic_max_tokens": "64",
    "MC_N": "2",
    "EVAL_PER_CLASS": "2",
}
COMMON = {"CHUNK_SIZE": "2", "PROFILE": "cpu", "GRADER": "mathcritique", "HF_HUB_OFFLINE": "1", "LOG_LEVEL": "INFO"}


@dataclass(frozen=True)
class Scenario:
    """A driver, its tiny settings, and the steps (in run order) a kill is aimed at."""

    driver: str
    settings: dict[str, str]
    targets: tuple[str, ...]


SCENARIOS = {
    "inference": Scenario(
        "inference-all.sh",
        TINY_INFERENCE,
        (
            "iter_0/05_train",
            "iter_1/01_samples",
            "iter_1/02_critiques",
            "iter_1/03_refinements",
            "iter_1/05_train",
            "eval/iter_1",
        ),
    ),
    "critic": Scenario(
        "critic-all.sh",
        TINY_CRITIC,
        (
            "critic/01_flawed_paths",
            "critic/02_annotations",
            "critic/03_mc_filter",
            "critic/04_dataset",
            "critic/05_train",
            "critic/06_eval",
        ),
    ),
}


def driver_env(world: dict[str, str], runs: Path, exp: str, settings: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PRESET", "MATHCRITIQUE_RUN_LOCK")}
    env.update(COMMON)
    env.update(world)
    if world.get("PYTHONPATH") and os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = world["PYTHONPATH"] + os.pathsep + os.environ["PYTHONPATH"]
    env.update(settings)
    env.update(PYTHON=sys.executable, RUNS_DIR=str(runs), EXP_NUM=exp)
    env.update(extra)
    return env


def start(driver: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """The driver in a new session (its process group: the driver and everything it starts),
    its output in ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        return subprocess.Popen(
            ["bash", str(DRIVERS / driver)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def run_driver(driver: str, env: dict[str, str], log: Path, timeout: float = 900) -> tuple[int, str]:
    """Run the driver to its end: exit code and output."""
    proc = start(driver, env, log)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return rc, log.read_text(errors="replace")


def step_status(run: Path) -> dict[str, str]:
    try:
        steps = json.loads((run / "manifest.json").read_text())["steps"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {k: v.get("status", "?") for k, v in steps.items() if isinstance(v, dict)}


SIGNALS = {
    "KILL": signal.SIGKILL,
    "TERM": signal.SIGTERM,
    "INT": signal.SIGINT,
    "HUP": signal.SIGHUP,
    "USR1": signal.SIGUSR1,  # what `sbatch --signal=B:USR1@300` sends the batch shell before a time limit
}
MODES = ("group", "pid")  # the signal goes to the driver's whole process group, or to its pid alone


@dataclass
class Kill:
    target: str
    delay: float  # seconds after the target step was seen running
    signal: str = "KILL"  # a key of SIGNALS
    mode: str = "group"  # one of MODES
    landed: list[str] = field(default_factory=list)  # steps running (or stopped) when the signal landed
    lines: dict[str, int] = field(default_factory=dict)  # JSONL lines on disk once the run had ended
    exit: int | None = None  # the driver's exit code (None: killed)
    orphans: list[str] = field(default_factory=list)  # processes of the run alive after the driver ended
    refused: bool | None = None  # SIGKILL of the driver alone: a second driver was refused meanwhile
    problems: list[str] = field(default_factory=list)  # what a clean stop should have done and did not

    @property
    def label(self) -> str:
        return f"SIG{self.signal}/{self.mode}"


def kill_during(
    driver: str,
    env: dict[str, str],
    run: Path,
    target: str,
    window: float,
    rng: random.Random,
    log: Path,
    ready: Callable[[], bool] | None = None,
    sig: str = "KILL",
    mode: str = "group",
) -> Kill:
    """Start the driver, send ``sig`` to its process group (or its pid alone) ``U(0, window)``
    seconds after ``target`` starts running (and ``ready()`` holds, if given), and say where the
    signal landed and what it left.

    SIGKILL of the group: the run ends at once. SIGKILL of the driver alone: its stage lives on
    and must keep the run locked; it is paused (SIGSTOP) while a second driver is started, which
    must be refused, then let finish its step. SIGTERM, SIGINT and SIGHUP (either way) must stop
    the run cleanly: exit code 128 + the signal, one line saying where it stopped and that a rerun
    continues, no traceback, no process of the run left, the run lock released."""
    proc = start(driver, env, log)
    kill = Kill(target, round(rng.uniform(0, window), 3), sig, mode)
    deadline = time.time() + 600
    try:
        while proc.poll() is None and time.time() < deadline:
            if step_status(run).get(target) in ("running", "done") and (ready is None or ready()):
                break
            time.sleep(0.01)
        time.sleep(kill.delay)
    finally:
        if proc.poll() is None:
            (os.killpg if mode == "group" else os.kill)(proc.pid, SIGNALS[sig])
        elif sig != "KILL":
            kill.landed = [f"not signalled: the driver exited with {proc.returncode}"]
    if sig == "KILL" and mode == "group":
        proc.wait()
        if proc.returncode != -signal.SIGKILL:
            kill.landed = [f"not killed: the driver exited with {proc.returncode}"]
            return kill
        _wait_group_gone(proc.pid)
    elif sig == "KILL":
        proc.wait()
        if proc.returncode != -signal.SIGKILL:
            kill.landed = [f"not killed: the driver exited with {proc.returncode}"]
            return kill
        kill.landed = [k for k, st in step_status(run).items() if st == "running"] or ["between steps"]
        kill.refused = _second_driver_refused(driver, env, run, proc.pid, log, kill)
        _wait_group_gone(proc.pid, timeout=600)
    else:
        try:
            kill.exit = proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            kill.problems.append("the driver did not stop within 600 s")
            os.killpg(proc.pid, signal.SIGKILL)
            kill.exit = proc.wait()
        if kill.landed:  # exited before the signal
            return kill
        kill.problems += clean_stop_problems(kill.exit, SIGNALS[sig], log.read_text(errors="replace"), run)
        kill.orphans = group_members(proc.pid, grace=5.0)
        if kill.orphans:
            kill.problems.append(f"{len(kill.orphans)} process(es) of the run left: {kill.orphans}")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    if not kill.landed:
        kill.landed = [k for k, st in step_status(run).items() if st in ("running", "stopped")] or ["between steps"]
    kill.lines = {str(p.relative_to(run)): len(p.read_bytes().splitlines()) for p in sorted(run.rglob("*.jsonl"))}
    return kill


def clean_stop_problems(code: int, signum: int, text: str, run: Path) -> list[str]:
    """What a clean stop on ``signum`` should have done and did not (empty: all of it)."""
    problems = []
    if code != 128 + signum:
        problems.append(f"exit code {code}, not {128 + signum}")
    lines = [line for line in re.split(r"[\r\n]", text) if "stopped by SIG" in line]
    if len(lines) != 1 or "rerun the same command to continue" not in lines[0]:
        problems.append(f"{len(lines)} line(s) saying where it stopped: {lines[:3]}")
    if "Traceback" in text:
        problems.append("a traceback: " + text[text.index("Traceback") :][:300])
    if not lock_released(run):
        problems.append("the run lock was not released")
    return problems


def lock_released(run: Path) -> bool:
    from selfimprove.core import runlock

    return not (run / ".run.lock").exists() and not runlock.held_by_others(run)


def group_members(pgid: int, grace: float = 0.0) -> list[str]:
    """Live processes (not zombies) of process group ``pgid``, as ``pid command``; waits up to
    ``grace`` seconds for them to end."""
    import psutil

    end = time.time() + grace
    while True:
        found = []
        for p in psutil.process_iter(["pid", "status", "cmdline"]):
            try:
                if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                    found.append(f"{p.pid} {' '.join((p.info['cmdline'] or [])[:4])}")
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        if not found or time.time() >= end:
            return found
        time.sleep(0.1)


def _second_driver_refused(
    driver: str, env: dict[str, str], run: Path, pgid: int, log: Path, kill: Kill
) -> bool | None:
    """The driver was SIGKILLed alone: pause what it left running, start a second driver on the
    same run (it must be refused, exit 75), then let the first run's processes go on."""
    if not group_members(pgid):
        return None  # nothing outlived the driver
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGSTOP)
    try:
        rc, text = run_driver(driver, env, log.with_name(log.stem + "-second.log"), timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGCONT)
    refused = rc == 75 and "is still running" in text and "Traceback" not in text
    if not refused:
        kill.problems.append(f"a second driver started while the first one's stage lived: exit {rc}: {text[-500:]}")
    return refused


def _wait_group_gone(pgid: int, timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if not group_members(pgid):
            return
        time.sleep(0.05)


# ----------------------------------------------------------------------------- checks


def jsonl_ids(run: Path) -> dict[str, list]:
    """Every JSONL under ``run`` -> its ids in file order (unreadable lines are left out)."""
    out: dict[str, list] = {}
    for path in sorted(run.rglob("*.jsonl")):
        ids = []
        for line in path.read_bytes().splitlines():
            try:
                ids.append(json.loads(line).get("id"))
            except (ValueError, AttributeError):
                continue
        out[str(path.relative_to(run))] = ids
    return out


def torn_lines(run: Path) -> list[str]:
    """JSONL lines that are not a JSON object, and files whose last line has no newline."""
    problems = []
    for path in sorted(run.rglob("*.jsonl")):
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            problems.append(f"{path.relative_to(run)}: last line has no newline")
        for i, line in enumerate(data.splitlines(), 1):
            try:
                ok = isinstance(json.loads(line), dict)
            except ValueError:
                ok = False
            if line.strip() and not ok:
                problems.append(f"{path.relative_to(run)}:{i}: not a JSON object")
    return problems


def manifest_problems(run: Path) -> list[str]:
    """Steps not done, and done steps whose files differ from what the manifest recorded (notes
    such as "edited, same ids" are not problems and are not logged here)."""
    import logging

    from selfimprove.core import manifest

    problems = []
    level = manifest.log.level
    manifest.log.setLevel(logging.ERROR)
    try:
        for name, entry in manifest.read(run)["steps"].items():
            if entry.get("status") != "done":
                problems.append(f"step {name} is {entry.get('status')}")
                continue
            problems += [f"step {name}: {p}" for p in manifest.Step(run, name).verify(entry)]
    finally:
        manifest.log.setLevel(level)
    return problems


def model_problems(run: Path) -> list[str]:
    """Trained model folders that are incomplete, and ``*.partial`` folders left behind."""
    from selfimprove.training.weights import check_model_folder

    folders = [*run.glob("iter_*/actor"), *run.glob("critic/model")]
    problems = [p for f in folders for p in check_model_folder(f)]
    problems += [f"{p.relative_to(run)} left behind" for p in run.rglob("*.partial")]
    return problems


def compare_ids(run: Path, reference: dict[str, list]) -> dict[str, Any]:
    """Records lost, duplicated and unexpected, against the uninterrupted run's id sets."""
    got = jsonl_ids(run)
    lost = dup = extra = 0
    details = []
    for name, ref_ids in reference.items():
        ids = got.get(name)
        if ids is None:
            details.append(f"{name}: missing")
            lost += len(ref_ids)
            continue
        n_lost, n_extra, n_dup = len(set(ref_ids) - set(ids)), len(set(ids) - set(ref_ids)), len(ids) - len(set(ids))
        lost, extra, dup = lost + n_lost, extra + n_extra, dup + n_dup
        if n_lost or n_extra or n_dup:
            details.append(f"{name}: {n_lost} lost, {n_dup} duplicated, {n_extra} unexpected")
    details += [f"{name}: not in the uninterrupted run" for name in got if name not in reference]
    return {
        "records": sum(len(v) for v in got.values()),
        "lost": lost,
        "duplicated": dup,
        "unexpected": extra,
        "details": details,
    }


def check_run(run: Path, reference: dict[str, list]) -> dict[str, Any]:
    """Everything a finished run must satisfy after any number of kills and reruns."""
    out = compare_ids(run, reference)
    out["torn"] = torn_lines(run)
    out["manifest"] = manifest_problems(run)
    out["models"] = model_problems(run)
    out["ok"] = not (out["lost"] or out["duplicated"] or out["unexpected"] or out["details"]) and not (
        out["torn"] or out["manifest"] or out["models"]
    )
    return out


# ----------------------------------------------------------------------------- the suite


class Suite:
    """One world, one folder of runs and logs, and the counts of everything tried."""

    def __init__(self, out: Path, seed: int = 0, engine_delay: float = 0.2, train_seconds: float = 1.0):
        self.out = out
        self.runs = out / "runs"
        self.rng = random.Random(seed)
        self.world = make_world(out / "world", engine_delay, train_seconds)
        self.references: dict[str, tuple[dict[str, list], dict[str, float]]] = {}
        self._n = 0

    def log(self, label: str) -> Path:
        self._n += 1
        return self.out / "logs" / f"{self._n:03d}-{label}.log"

    def env(self, name: str, exp: str, **extra: str) -> dict[str, str]:
        return driver_env(self.world, self.runs, exp, SCENARIOS[name].settings, **extra)

    def run(self, name: str, exp: str, label: str, driver: str | None = None, **extra: str) -> tuple[int, str]:
        return run_driver(driver or SCENARIOS[name].driver, self.env(name, exp, **extra), self.log(f"{exp}-{label}"))

    def reference(self, name: str) -> tuple[dict[str, list], dict[str, float]]:
        """The uninterrupted run: its JSONL id sets and each step's seconds (the kill windows)."""
        if name not in self.references:
            from selfimprove.core.manifest import read

            exp = f"{name}-reference"
            rc, text = self.run(name, exp, "uninterrupted")
            if rc != 0:
                raise RuntimeError(f"the uninterrupted {name} run failed (exit {rc}):\n{text[-3000:]}")
            steps = read(self.runs / exp)["steps"]
            windows = {k: float(v.get("seconds", 1.0)) for k, v in steps.items()}
            self.references[name] = (jsonl_ids(self.runs / exp), windows)
        return self.references[name]

    def kill_chain(
        self,
        name: str,
        exp: str,
        plan: list[tuple[str, str, str]] | None = None,
        sig: str = "KILL",
        mode: str = "group",
    ) -> dict[str, Any]:
        """One signal aimed at each target step in turn (each start resumes the previous one's
        leftovers), then a rerun to the end, checked against the uninterrupted run. ``plan`` lists
        ``(target, signal, mode)``; by default ``sig`` to ``mode`` in every target of the scenario."""
        scenario = SCENARIOS[name]
        reference, windows = self.reference(name)
        env = self.env(name, exp)
        plan = plan or [(t, sig, mode) for t in scenario.targets]
        kills = [  # within 70 % of the step's uninterrupted time, so that most kills land inside it
            kill_during(
                scenario.driver,
                env,
                self.runs / exp,
                t,
                0.7 * windows.get(t, 1.0),
                self.rng,
                self.log(f"{exp}-{s.lower()}-{m}"),
                sig=s,
                mode=m,
            )
            for t, s, m in plan
        ]
        rc, text = run_driver(scenario.driver, env, self.log(f"{exp}-rerun"))
        labels = sorted({k.label for k in kills})
        result: dict[str, Any] = {
            "scenario": name,
            "exp": exp,
            "signals": labels[0] if len(labels) == 1 else "mixed",
            "completed": rc == 0,
            "kills": [asdict(k) for k in kills],
        }
        result.update(check_run(self.runs / exp, reference))
        landed = all(k.landed and not k.landed[0].startswith("not ") for k in kills)
        result["ok"] = result["ok"] and rc == 0 and landed and not any(k.problems for k in kills)
        if rc != 0:
            result["details"].append(f"rerun exited {rc}: {text[-2000:]}")
        result["details"] += [f"{k.label} in {k.target}: {p}" for k in kills for p in k.problems]
        return result

    # ------------------------------------------------------------------------- disks

    def disk_cases(self) -> list[dict[str, Any]]:
        """A disk that fills while a stage writes, a disk without room for the next model copy,
        and an unwritable runs folder: each is one line and its exit code, and a rerun once the
        disk has room completes with the uninterrupted run's ids."""
        reference, _ = self.reference("inference")
        out: list[dict[str, Any]] = []
        disk = Disk(self.out / "disk", self.out / "disk-full.flag")
        try:
            out += self._full_mid_step(disk, reference)
            out += self._no_room_for_the_model(disk, reference)
        finally:
            disk.close()
        out.append(self._unwritable_runs_dir())
        return out

    def _disk_env(self, disk: Disk, exp: str, **extra: str) -> dict[str, str]:
        return driver_env(self.world, disk.root, exp, SCENARIOS["inference"].settings, **disk.env(), **extra)

    def _full_mid_step(self, disk: Disk, reference: dict[str, list]) -> list[dict[str, Any]]:
        exp, driver = "disk-full", SCENARIOS["inference"].driver
        run = disk.root / exp
        env = self._disk_env(disk, exp)
        samples = run / "iter_1" / "01_samples.jsonl"
        log = self.log(f"{exp}-fills")
        proc = start(driver, env, log)
        deadline = time.time() + 600
        while proc.poll() is None and time.time() < deadline:  # some records written, more to come
            if step_status(run).get("iter_1/01_samples") == "running" and samples.is_file() and samples.stat().st_size:
                break
            time.sleep(0.01)
        disk.fill()
        rc = proc.wait(timeout=600)
        text = log.read_text(errors="replace")
        msg = _error_line(text)
        orphans = group_members(proc.pid, grace=5.0)
        ok = (
            rc == 1
            and "(errno 28)" in msg
            and str(run) in msg
            and "Traceback" not in text
            and not torn_lines(run)
            and lock_released(run)
            and not orphans
        )
        cases = [_case("disk fills during sampling", "one line, exit 1", ok, msg, rc, text, orphans=orphans)]
        rc, text = run_driver(driver, env, self.log(f"{exp}-still-full"))
        msg = _error_line(text)
        ok = rc == 2 and "No space left on device" in msg and "Traceback" not in text and lock_released(run)
        cases.append(_case("rerun while the disk is still full", "refused before compute, exit 2", ok, msg, rc, text))
        disk.free()
        rc, text = run_driver(driver, env, self.log(f"{exp}-freed"))
        check = check_run(run, reference)
        resumed = [line for line in text.splitlines() if "iter_1/01_samples" in line and "done" in line]
        ok = rc == 0 and check["ok"]
        cases.append(
            _case("rerun once the disk has room", "resumed, same ids", ok, (resumed or [""])[0], rc, text, check)
        )
        return cases

    def _no_room_for_the_model(self, disk: Disk, reference: dict[str, list]) -> list[dict[str, Any]]:
        exp, driver = "disk-model", SCENARIOS["inference"].driver
        run = disk.root / exp
        base = write_model(self.out / "world" / "base-model-4mb")  # bigger than what the disk leaves free
        (base / "padding.bin").write_bytes(bytes(4 * 1024 * 1024))
        env = self._disk_env(disk, exp, model_name=str(base))
        disk.fill(leave=1024 * 1024, what="space")
        rc, text = run_driver(driver, env, self.log(f"{exp}-no-room"))
        msg = _error_line(text)
        ok = (
            rc == 2
            and "writes a model copy of about 4.0 MB" in msg
            and "Traceback" not in text
            and not (run / "iter_0" / "actor.partial").exists()
            and lock_released(run)
        )
        cases = [_case("no room for the next model copy", "refused before training, exit 2", ok, msg, rc, text)]
        disk.free()
        rc, text = run_driver(driver, env, self.log(f"{exp}-freed"))
        check = check_run(run, reference)
        cases.append(
            _case("rerun once the disk has room", "completed, same ids", rc == 0 and check["ok"], "", rc, text, check)
        )
        return cases

    def _unwritable_runs_dir(self) -> dict[str, Any]:
        folder = self.out / "read-only"
        with read_only_folder(folder) as ro:
            if ro is None:
                return {
                    "damage": "unwritable runs folder",
                    "outcome": "not tried (root, and no tmpfs here)",
                    "ok": True,
                }
            env = driver_env(self.world, ro, "ro", SCENARIOS["inference"].settings)
            rc, text = run_driver(SCENARIOS["inference"].driver, env, self.log("read-only"))
            msg = _error_line(text)
            ok = rc == 2 and "is not writable (read-only)" in msg and "Traceback" not in text and not list(ro.iterdir())
        return _case("unwritable runs folder", "refused before compute, exit 2", ok, msg, rc, text)

    def damage(self, exp: str) -> list[dict[str, Any]]:
        """Damage a finished inference run by hand and check each harm is repaired by a rerun or
        refused with a message that says what to do."""
        run = self.runs / exp
        reference, _ = self.reference("inference")
        out: list[dict[str, Any]] = []

        def note(what: str, outcome: str, ok: bool, message: str) -> None:
            entry = {"damage": what, "outcome": outcome, "ok": ok, "message": message}
            if not ok:  # enough to tell why
                entry.update(exit=rc, log_tail=text[-1500:], check={k: v for k, v in check.items() if v})
            out.append(entry)

        check: dict[str, Any] = {}

        weights = run / "iter_0" / "actor" / "model.safetensors"
        weights.unlink()  # an actor whose evaluation has not run yet: refused before any engine starts
        rc, text = self.run("inference", exp, "evaluate-damaged", driver="evaluate-all.sh", EVAL_ITERS="0")
        msg = _error_line(text)
        refused = rc == 2 and "model.safetensors" in msg and "inference-all.sh" in msg and "Traceback" not in text
        note("deleted model.safetensors, evaluate-all.sh", "refused", refused, msg)

        refinements, samples = run / "iter_1" / "03_refinements.jsonl", run / "iter_1" / "01_samples.jsonl"
        data = refinements.read_bytes()
        refinements.write_bytes(data[: len(data) - 15])  # a torn last line
        lines = samples.read_bytes().splitlines(keepends=True)
        samples.write_bytes(b"".join(lines[: len(lines) // 2] + lines[len(lines) // 2 + 1 :]))  # a lost line
        rc, text = self.run("inference", exp, "rerun-damaged")
        check = check_run(run, reference)
        for what, needle in (
            ("truncated last line", "03_refinements.jsonl has 1 unreadable line"),
            ("deleted middle line", "01_samples.jsonl has"),
            ("deleted model.safetensors, inference-all.sh", "model.safetensors is missing"),
        ):
            found = [line for line in text.splitlines() if needle in line]
            note(what, "repaired", rc == 0 and check["ok"] and bool(found), (found or ["not reported"])[0])

        manifest = run / "manifest.json"
        manifest.write_text('{"steps": {"iter_1/01_samples": ')
        rc, text = self.run("inference", exp, "invalid-manifest")
        msg = _error_line(text)
        advice = msg.split("(mv ", 1)[-1].split(")", 1)[0].split() if "(mv " in msg else []
        refused = rc == 2 and str(manifest) in msg and "Traceback" not in text and len(advice) == 2
        if refused:
            os.rename(advice[0], advice[1])  # do what the message says, then rerun
            rc, text = self.run("inference", exp, "rerun-after-advice")
        check = check_run(run, reference)
        note("invalid manifest.json", "refused, then repaired as advised", refused and rc == 0 and check["ok"], msg)
        return out

    def embedded(self, engine: str = "hf") -> dict[str, Any]:
        """One kill/rerun of an evaluation on the embedded model with the real engine, checked
        against the id sets the scripted world writes with the same settings (every id of the
        ``all`` sequential mode is fixed by the settings, not by the text)."""
        model = ROOT / "models" / "SmolLM2-135M-Instruct"
        settings = {**EMBEDDED, "ACTOR_MODELS": str(model), "model_name": str(model)}
        ref_env = driver_env(self.world, self.runs, "embedded-reference", settings)
        rc, text = run_driver("evaluate-all.sh", ref_env, self.log("embedded-reference"))
        if rc != 0:
            raise RuntimeError(f"the scripted reference evaluation failed (exit {rc}):\n{text[-3000:]}")
        reference = jsonl_ids(self.runs / "embedded-reference")
        # one thread: on a busy 2-core machine two OpenMP threads waiting on each other made
        # transformers' generate 17x slower (140 s against 8 s for 4 samples of 24 tokens)
        env = driver_env({}, self.runs, "embedded", settings, ENGINE=engine)
        env.setdefault("OMP_NUM_THREADS", "1")
        run = self.runs / "embedded"
        greedy = run / "eval" / model.name / "greedy.jsonl"
        kill = kill_during(
            "evaluate-all.sh",
            env,
            run,
            f"eval/{model.name}",
            2.0,
            self.rng,
            self.log("embedded-kill"),
            ready=lambda: greedy.is_file() and greedy.stat().st_size > 0,
        )
        rc, text = run_driver("evaluate-all.sh", env, self.log("embedded-rerun"))
        result: dict[str, Any] = {"scenario": "embedded", "completed": rc == 0, "kills": [asdict(kill)]}
        result.update(check_run(run, reference))
        result["ok"] = result["ok"] and rc == 0 and "not killed" not in kill.landed[0]
        if rc != 0:
            result["details"].append(f"rerun exited {rc}: {text[-2000:]}")
        return result


def _case(
    what: str, outcome: str, ok: bool, message: str, rc: int, text: str, check: dict | None = None, **extra: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {"damage": what, "outcome": outcome, "ok": ok, "message": message, **extra}
    if not ok:  # enough to tell why
        entry.update(exit=rc, log_tail=text[-1500:], check={k: v for k, v in (check or {}).items() if v})
    return entry


def _mount_tmpfs(folder: Path, options: str) -> bool:
    """Mount a tmpfs on ``folder`` (root only); False when this machine does not allow it."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    except OSError:
        return False
    return done.returncode == 0


def _umount(folder: Path) -> None:
    subprocess.run(["umount", str(folder)], capture_output=True)


class Disk:
    """A folder for runs on a disk that can be filled: a 16 MB tmpfs where this process may mount
    one, else the world's injected ENOSPC (``DISK_HOOK``: the flag file says full or no space)."""

    def __init__(self, root: Path, flag: Path, megabytes: int = 16):
        self.root, self.flag = root, flag
        self.mounted = _mount_tmpfs(root, f"size={megabytes}m")
        self.filler = root / ".filler"

    @property
    def kind(self) -> str:
        return "tmpfs" if self.mounted else "injected ENOSPC"

    def env(self) -> dict[str, str]:
        return {} if self.mounted else {"FAULT_DISK_FULL": str(self.flag)}

    def fill(self, leave: int = 0, what: str = "full") -> None:
        """Take all the free space but ``leave`` bytes (injected: ``what`` is full or space)."""
        if not self.mounted:
            self.flag.write_text(what)
            return
        block = bytes(64 * 1024)
        with open(self.filler, "ab") as f:
            while True:
                room = shutil.disk_usage(self.root).free - leave
                if room <= 0:
                    break
                try:
                    f.write(block[: min(len(block), room)])
                    f.flush()
                except OSError:
                    break

    def free(self) -> None:
        self.flag.unlink(missing_ok=True)
        self.filler.unlink(missing_ok=True)

    def close(self) -> None:
        self.free()
        if self.mounted:
            _umount(self.root)


@contextlib.contextmanager
def read_only_folder(folder: Path) -> Iterator[Path | None]:
    """A folder this process cannot write: a read-only tmpfs for root (which writes through file
    modes), mode 0555 for others; None for root where no tmpfs can be mounted."""
    if os.geteuid() == 0:
        if not _mount_tmpfs(folder, "ro,size=1m"):
            yield None
            return
        try:
            yield folder
        finally:
            _umount(folder)
        return
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    try:
        yield folder
    finally:
        folder.chmod(0o755)


def _error_line(text: str) -> str:
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    return errors[0] if len(errors) == 1 else f"{len(errors)} error lines: {errors[:3]}"


EMBEDDED = {
    "test_limit": "3",
    "sample_num": "2",
    "max_tokens": "24",
    "critic_max_tokens": "32",
    "MV_NUM": "1",
    "SEQUENTIAL_MODE": "all",
    "MAX_MODEL_LEN": "1024",
    "CHUNK_SIZE": "1",
}


def measure_costs(folder: Path, megabytes: int = 64, chunk: int = 64) -> dict[str, float]:
    """What the guarantees cost here, in wall seconds (CPU seconds beside them, which a busy
    machine does not inflate): an fsync'ed chunk append, reopening a JSONL (the torn-tail scan and
    its ids), the fingerprint a skip checks, and the weight check of the embedded model."""
    from selfimprove.core import fingerprint as fp
    from selfimprove.core.io import ResumableJsonl
    from selfimprove.training.weights import check_model_folder

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "costs.jsonl"
    path.unlink(missing_ok=True)
    n = megabytes * 500  # records of about 2 KB
    out: dict[str, float] = {"megabytes": megabytes, "records": n, "chunk": chunk}

    def timed(name: str, fn: Callable[[], Any], repeat: int = 1) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeat):
            fn()
        out[f"{name}_s"] = round((time.perf_counter() - wall) / repeat, 4)
        out[f"{name}_cpu_s"] = round((time.process_time() - cpu) / repeat, 4)

    jsonl = ResumableJsonl(path)
    text = "x" * 1950

    def append() -> None:
        start = len(jsonl.done)
        jsonl.append([{"id": f"q{j}", "t": text} for j in range(start, start + chunk)])

    timed("append_chunk", append, repeat=n // chunk)
    timed("reopen", lambda: ResumableJsonl(path))
    timed("fingerprint", lambda: fp.fingerprint(path))
    model = ROOT / "models" / "SmolLM2-135M-Instruct"
    if model.is_dir():
        timed("model_check", lambda: check_model_folder(model), repeat=10)
    path.unlink()
    return out


def per_signal(results: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per signal and target (``SIGTERM/pid``): kills tried, kills that landed inside their target
    step, clean stops, records lost and duplicated (chains that used only that signal), processes
    of the run left behind, second drivers refused while a SIGKILLed driver's stage lived."""
    table: dict[str, dict[str, int]] = {}

    def row(label: str) -> dict[str, int]:
        return table.setdefault(
            label, {"tried": 0, "inside": 0, "clean": 0, "lost": 0, "duplicated": 0, "orphans": 0, "refused": 0}
        )

    for r in results:
        for k in r["kills"]:
            t = row(f"SIG{k.get('signal', 'KILL')}/{k.get('mode', 'group')}")
            t["tried"] += 1
            t["inside"] += k["target"] in k["landed"]
            t["clean"] += not k.get("problems")
            t["orphans"] += len(k.get("orphans") or [])
            t["refused"] += bool(k.get("refused"))
        t = row(r.get("signals", "SIGKILL/group"))
        t["lost"] += r["lost"]
        t["duplicated"] += r["duplicated"]
    return {k: v for k, v in table.items() if v["tried"] or v["lost"] or v["duplicated"]}


def summarize(
    results: list[dict[str, Any]],
    damage: list[dict[str, Any]],
    seconds: float,
    disks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Totals over every kill chain, damage and disk case."""
    disks = disks or []
    kills = [k for r in results for k in r["kills"]]
    landed: dict[str, int] = {}
    for k in kills:
        for step in k["landed"]:
            landed[step] = landed.get(step, 0) + 1
    return {
        "kills_tried": len(kills),
        "kills_landed": landed,
        "per_signal": per_signal(results),
        "reruns_completed": sum(r["completed"] for r in results),
        "records_checked": sum(r["records"] for r in results),
        "lost": sum(r["lost"] for r in results),
        "duplicated": sum(r["duplicated"] for r in results),
        "unexpected": sum(r["unexpected"] for r in results),
        "orphans": sum(len(k.get("orphans") or []) for k in kills),
        "torn_lines": sum(len(r["torn"]) for r in results),
        "manifest_problems": sum(len(r["manifest"]) for r in results),
        "model_problems": sum(len(r["models"]) for r in results),
        "damage": [f"{d['damage']}: {d['outcome'] if d['ok'] else 'FAILED'}" for d in damage],
        "disks": [f"{d['damage']}: {d['outcome'] if d['ok'] else 'FAILED'}" for d in disks],
        "ok": all(r["ok"] for r in [*results, *damage, *disks]),
        "seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the world, the runs and the logs")
    ap.add_argument("--rounds", type=int, default=1, help="kill chains per scenario and signal, each on a fresh run")
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    ap.add_argument(
        "--signals", nargs="+", default=list(SIGNALS), choices=list(SIGNALS), help="signals sent (default: all)"
    )
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES), help="to the group, or the pid")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    ap.add_argument("--no-damage", action="store_true", help="skip the hand-made damage cases")
    ap.add_argument("--no-disk", action="store_true", help="skip the full disk and the unwritable runs folder")
    ap.add_argument("--embedded", action="store_true", help="also kill and rerun an evaluation on the embedded model")
    ap.add_argument("--costs", action="store_true", help="only measure what the guarantees cost, and print it")
    args = ap.parse_args(argv)
    if args.costs:
        print(json.dumps(measure_costs(args.out), indent=1))
        return 0
    t0 = time.time()
    suite = Suite(args.out, seed=args.seed)
    results = [
        suite.kill_chain(name, f"{name}-{sig.lower()}-{mode}-{r}", sig=sig, mode=mode)
        for r in range(args.rounds)
        for sig in args.signals
        for mode in args.modes
        for name in args.scenarios
    ]
    first = next((r["exp"] for r in results if r["scenario"] == "inference"), None)
    damage = [] if args.no_damage or first is None else suite.damage(first)
    disks = [] if args.no_disk else suite.disk_cases()
    if args.embedded:
        results.append(suite.embedded())
    summary = summarize(results, damage, time.time() - t0, disks)
    (args.out / "results.json").write_text(
        json.dumps({"summary": summary, "runs": results, "damage": damage, "disks": disks}, indent=1)
    )
    print(json.dumps(summary, indent=1))
    print("signal/target   kills tried  inside step  clean stops  records lost  duplicated  orphans  2nd refused")
    for label, t in summary["per_signal"].items():
        print(
            f"{label:<15} {t['tried']:>11}  {t['inside']:>11}  {t['clean']:>11}  {t['lost']:>12}  "
            f"{t['duplicated']:>10}  {t['orphans']:>7}  {t['refused']:>11}"
        )
    for r in results:
        for problem in r["details"] + r["torn"] + r["manifest"] + r["models"]:
            print(f"{r['exp'] if 'exp' in r else r['scenario']}: {problem}", file=sys.stderr)
    for d in [*damage, *disks]:
        if not d["ok"]:
            print(f"{d['damage']}: FAILED: {d.get('message')}", file=sys.stderr)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
