"""At most one engine computes at a time: an idle engine's processes are paused (SIGSTOP) while
another engine generates, resumed (SIGCONT) when it is needed, and never left paused at exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import psutil
import pytest

from selfimprove.generation.engines import SamplingParams, ScriptedEngine, VLLMEngine, idle
from selfimprove.generation.engines import vllm as vllm_engine
from selfimprove.generation.prompts import Prompt

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="POSIX signals")
ROOT = Path(__file__).resolve().parent.parent
SLEEPER = "import time\nwhile True:\n    time.sleep(0.05)\n"


def _prompt() -> Prompt:
    return Prompt(({"role": "user", "content": "q"},))


def _status(proc) -> str:
    try:
        return psutil.Process(proc.pid).status()
    except psutil.NoSuchProcess:
        return "gone"


def _wait_status(proc, wanted: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = _status(proc)
        if s == wanted:
            return s
        time.sleep(0.02)
    return _status(proc)


@pytest.fixture
def sleepers():
    """Child processes standing in for an engine's engine-core and worker processes."""
    started: list[subprocess.Popen] = []

    def start(k: int = 1) -> list[subprocess.Popen]:
        procs = [subprocess.Popen([sys.executable, "-c", SLEEPER]) for _ in range(k)]
        started.extend(procs)
        return procs

    yield start
    for p in started:
        try:
            os.kill(p.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        p.kill()
        p.wait(timeout=10)


class Paused(ScriptedEngine):
    """A scripted engine that owns real processes, like a vLLM engine on CPU."""

    def __init__(self, name: str, procs: list):
        super().__init__(lambda p, k: name, name=name)
        self.procs = idle.ProcessSet.of_pids([p.pid for p in procs])
        idle.register(self)

    def suspend(self) -> bool:
        return self.procs.suspend()

    def resume(self) -> None:
        self.procs.resume()

    def close(self) -> None:
        idle.unregister(self)
        self.procs.stop(timeout=2)
        super().close()


@pytest.fixture(autouse=True)
def _clean_registry():
    idle.set_enabled(True)
    yield
    idle.set_enabled(True)
    for e in idle.registered():
        e.resume()
        idle.unregister(e)


def test_the_working_engine_pauses_the_idle_one(sleepers):
    (a_proc,), (b_proc,) = sleepers(1), sleepers(1)
    actor, critic = Paused("actor", [a_proc]), Paused("critic", [b_proc])
    actor.generate([_prompt()], SamplingParams())
    assert _wait_status(b_proc, psutil.STATUS_STOPPED) == psutil.STATUS_STOPPED
    assert _status(a_proc) != psutil.STATUS_STOPPED
    critic.generate([_prompt()], SamplingParams())
    assert _wait_status(a_proc, psutil.STATUS_STOPPED) == psutil.STATUS_STOPPED
    assert _wait_status(b_proc, psutil.STATUS_SLEEPING) != psutil.STATUS_STOPPED
    # a paused process uses no CPU
    before = psutil.Process(a_proc.pid).cpu_times()
    time.sleep(0.3)
    assert psutil.Process(a_proc.pid).cpu_times() == before
    # an engine without processes (or one that is not registered) pauses the others too
    ScriptedEngine(lambda p, k: "x").generate([_prompt()], SamplingParams())
    assert _wait_status(b_proc, psutil.STATUS_STOPPED) == psutil.STATUS_STOPPED
    actor.close()
    critic.close()
    assert _wait_status(a_proc, "gone") == "gone" and _wait_status(b_proc, "gone") == "gone"
    assert idle.registered() == []


def test_pausing_can_be_turned_off(sleepers):
    (a_proc,), (b_proc,) = sleepers(1), sleepers(1)
    actor, critic = Paused("actor", [a_proc]), Paused("critic", [b_proc])
    actor.generate([_prompt()], SamplingParams())
    assert _wait_status(b_proc, psutil.STATUS_STOPPED) == psutil.STATUS_STOPPED
    idle.set_enabled(False)
    actor.generate([_prompt()], SamplingParams())  # running side by side again: B resumed
    assert _wait_status(b_proc, psutil.STATUS_SLEEPING) != psutil.STATUS_STOPPED
    critic.generate([_prompt()], SamplingParams())
    time.sleep(0.1)
    assert _status(a_proc) != psutil.STATUS_STOPPED
    actor.close()
    critic.close()


def test_process_set_follows_what_a_construction_started(sleepers):
    (old,) = sleepers(1)
    before = idle.child_pids()
    new = sleepers(2)
    found = idle.ProcessSet.started_since(before)
    assert sorted(p.pid for p in found.processes) == sorted(p.pid for p in new)
    assert old.pid in before
    assert found.suspend() and found.suspended
    assert all(_wait_status(p, psutil.STATUS_STOPPED) == psutil.STATUS_STOPPED for p in new)
    assert _status(old) != psutil.STATUS_STOPPED
    found.stop(timeout=0.5)  # resumed, then terminated
    assert all(_wait_status(p, "gone") == "gone" for p in new)
    assert not found.suspend()  # nothing left to pause


def test_process_set_includes_grandchildren(tmp_path):
    script = f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {SLEEPER!r}])\ntime.sleep(600)\n"
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while not psutil.Process(parent.pid).children() and time.monotonic() < deadline:
            time.sleep(0.05)
        (child,) = psutil.Process(parent.pid).children()
        procs = idle.ProcessSet.of_pids([parent.pid])
        procs.suspend()
        assert _wait_status(child, psutil.STATUS_STOPPED) == psutil.STATUS_STOPPED
        procs.stop(timeout=0.5)
        assert _wait_status(child, "gone") == "gone" or not child.is_running()
    finally:
        parent.kill()
        parent.wait(timeout=10)


# --------------------------------------------------------------------------- vLLM engine wiring


class _SpawningLLM:
    """Stands in for ``vllm.LLM`` on CPU: starts a child process (its engine core) when built."""

    def __init__(self, **kwargs):
        self.core = subprocess.Popen([sys.executable, "-c", SLEEPER])
        self.shutdowns = 0
        self.llm_engine = types.SimpleNamespace(engine_core=types.SimpleNamespace(shutdown=self._shutdown))

    def _shutdown(self):
        self.shutdowns += 1
        self.core.terminate()
        self.core.wait(timeout=10)

    def generate(self, texts, sp, use_tqdm=True):
        return [
            types.SimpleNamespace(
                prompt_token_ids=[1, 2], outputs=[types.SimpleNamespace(text="ok", finish_reason="stop", token_ids=[3])]
            )
            for _ in texts
        ]


@pytest.fixture
def spawning_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = _SpawningLLM  # type: ignore[attr-defined]
    module.SamplingParams = lambda **kw: types.SimpleNamespace(**kw)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(
        vllm_engine, "load_tokenizer", lambda model: types.SimpleNamespace(eos_token="</s>", chat_template=None)
    )
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    return module


def test_cpu_vllm_engines_take_turns_and_close_their_processes(spawning_vllm, monkeypatch):
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")  # vLLM's engine processes, not in-process
    with VLLMEngine("actor", model_type="base") as actor, VLLMEngine("critic", model_type="base") as critic:
        assert [p.pid for p in actor._procs.processes] == [actor._llm.core.pid]
        assert set(idle.registered()) == {actor, critic}
        a_core, c_core = actor._llm.core, critic._llm.core
        out = critic.generate([_prompt()], SamplingParams())
        assert out[0][0].text == "ok" and out[0][0].prompt_tokens == 2
        assert _wait_status(a_core, psutil.STATUS_STOPPED) == psutil.STATUS_STOPPED
        actor.generate([_prompt()], SamplingParams())
        assert _wait_status(c_core, psutil.STATUS_STOPPED) == psutil.STATUS_STOPPED
        assert _status(a_core) != psutil.STATUS_STOPPED
        a_llm, c_llm = actor._llm, critic._llm
    # closed on leaving the block: the paused critic was resumed so its shutdown could run
    assert (a_llm.shutdowns, c_llm.shutdowns) == (1, 1)
    assert _wait_status(a_core, "gone") == "gone" and _wait_status(c_core, "gone") == "gone"
    assert idle.registered() == []


def test_one_cpu_vllm_engine_at_a_time_runs_in_process(spawning_vllm, monkeypatch):
    """vLLM's in-process engine core tears down process-wide state when it shuts down, so only
    one engine at a time runs in-process; one opened meanwhile gets its own processes (paused while
    idle), and the next one after the in-process engine closed runs in-process again."""
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)  # the CPU default
    modes: list[str] = []

    def recording_llm(**kwargs):
        modes.append(os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"])
        return _SpawningLLM(**kwargs)

    spawning_vllm.LLM = recording_llm
    with VLLMEngine("actor", model_type="base") as actor:
        assert actor.in_process and len(actor._procs) == 0 and idle.registered() == []
        with VLLMEngine("critic", model_type="base") as critic:
            assert not critic.in_process and idle.registered() == [critic]
            assert [p.pid for p in critic._procs.processes] == [critic._llm.core.pid]
            assert critic.generate([_prompt()], SamplingParams())[0][0].text == "ok"
    with VLLMEngine("next", model_type="base") as later:
        assert later.in_process
    assert modes == ["0", "1", "0"]  # what vLLM saw while each engine was built
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" in os.environ and os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"


def test_gpu_vllm_engines_are_not_paused(spawning_vllm, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    engine = VLLMEngine("gpu", model_type="base")
    try:
        assert not engine.suspend_idle and engine not in idle.registered()
        assert not engine.suspend()
    finally:
        engine.close()


# --------------------------------------------------------------------------- never left paused


def _run_owner(tmp_path: Path, ending: str) -> tuple[subprocess.Popen, int]:
    """A process that owns a paused engine child, then ends by ``ending``; returns it and the
    child's pid."""
    pid_file, closed = tmp_path / "child.pid", tmp_path / "closed"
    script = textwrap.dedent(
        f"""
        import subprocess, sys, time
        from pathlib import Path
        from selfimprove.generation.engines import ScriptedEngine, idle

        class Owner(ScriptedEngine):
            def __init__(self):
                super().__init__(lambda p, k: "x")
                self.child = subprocess.Popen([sys.executable, "-c", {SLEEPER!r}])
                self.procs = idle.ProcessSet.of_pids([self.child.pid])
                idle.register(self)
            def suspend(self):
                return self.procs.suspend()
            def resume(self):
                self.procs.resume()
            def close(self):
                Path({str(closed)!r}).write_text("closed")

        with Owner() as owner:
            owner.suspend()
            Path({str(pid_file)!r}).write_text(str(owner.child.pid))
            if {ending!r} == "wait":
                time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc, int(pid_file.read_text())


@pytest.mark.parametrize("ending", ["exit", "sigterm"])
def test_paused_children_are_resumed_when_the_owner_ends(tmp_path, ending):
    proc, child = _run_owner(tmp_path, "exit" if ending == "exit" else "wait")
    try:
        if ending == "sigterm":
            assert _wait_status(types.SimpleNamespace(pid=child), psutil.STATUS_STOPPED) == psutil.STATUS_STOPPED
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        status = _wait_status(types.SimpleNamespace(pid=child), psutil.STATUS_SLEEPING)
        assert status in (psutil.STATUS_SLEEPING, psutil.STATUS_RUNNING), status
        assert (tmp_path / "closed").read_text() == "closed"  # the engine was closed on the way out
        if ending == "sigterm":
            assert proc.returncode == 128 + signal.SIGTERM  # ended by SystemExit, after cleaning up
    finally:
        for pid in (child, proc.pid):
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
