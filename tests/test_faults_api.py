"""An API critic behind a loopback fake OpenAI-compatible server: HTTP 500, 429 with Retry-After, a
stalled response, invalid JSON and an empty choices list are retried with backoff within a
bounded time, then recorded per item as errors that a rerun retries; the API key is never written.

The server listens on 127.0.0.1 only, reads at most 1 MB per request, stalls at most 4 s, and is
shut down after each test. Each prompt carries a marker (``item-A`` ...) that picks its script.
"""

from __future__ import annotations

import json
import re
import threading
import time
import types
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from selfimprove.core.cli import run
from selfimprove.core.errors import EngineError
from selfimprove.core.io import atomic_write_jsonl
from selfimprove.core.manifest import read as read_manifest
from selfimprove.generation.engines import SamplingParams
from selfimprove.generation.engines import openai as openai_engine
from selfimprove.generation.engines.openai import FailedCompletion, OpenAIEngine, retry_after
from selfimprove.generation.prompts import Prompt
from selfimprove.stages.critique import main as critique_main

SECRET = "sk-fault-suite-0123456789-do-not-write"
VERDICT = (
    "Step sentence: add\nCorrectness of the step: Wrong\nExplanation: no.\n\nCorrectness of the final answer: Wrong"
)
MAX_BODY = 1 << 20
MAX_STALL = 4.0
TIMEOUT = 1.5  # the client's per-request timeout in these tests (a stall outlasts it)


class Endpoint(ThreadingHTTPServer):
    """Scripts per item: a list of actions, one per attempt (the last one repeats). Actions:
    ok, 500, 500-echo (a body quoting the Authorization header), 429:<seconds>, stall, badjson,
    empty, 400, 401. ``healthy`` answers ok to everything."""

    daemon_threads = True

    def __init__(self, scripts: dict[str, list[str]]):
        super().__init__(("127.0.0.1", 0), Handler)
        self.scripts = scripts
        self.healthy = False
        self.attempts: Counter[str] = Counter()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def action(self, marker: str) -> str:
        with self.lock:
            k = self.attempts[marker]
            self.attempts[marker] += 1
        if self.healthy:
            return "ok"
        script = self.scripts.get(marker, ["ok"])
        return script[min(k, len(script) - 1)]


class Handler(BaseHTTPRequestHandler):
    server: Endpoint

    def log_message(self, *args: object) -> None:  # the test's output stays quiet
        return None

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 (the http.server hook's name)
        size = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        request = json.loads(self.rfile.read(size) or b"{}")
        text = json.dumps(request.get("messages", ""))
        found = re.search(r"item-(\w+)", text)
        action = self.server.action(found.group(1) if found else "?")
        try:
            self.act(action, request)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up on a stalled answer
            pass

    def act(self, action: str, request: dict) -> None:
        n = int(request.get("n") or 1)
        if action == "ok":
            choices = [
                {"index": i, "message": {"role": "assistant", "content": VERDICT}, "finish_reason": "stop"}
                for i in range(n)
            ]
            usage = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
            body = {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": choices}
            self.reply(200, json.dumps({**body, "usage": usage}).encode())
        elif action == "500":
            self.reply(500, b'{"error": {"message": "internal error"}}')
        elif action == "500-echo":
            said = self.headers.get("Authorization", "")
            self.reply(500, json.dumps({"error": {"message": f"upstream refused {said}"}}).encode())
        elif action.startswith("429:"):
            self.reply(429, b'{"error": {"message": "rate limited"}}', {"Retry-After": action[4:]})
        elif action == "stall":
            time.sleep(MAX_STALL)
            self.reply(200, b"{}")
        elif action == "badjson":
            self.reply(200, b'{"id": "c", "choices": [')
        elif action == "empty":
            self.reply(200, json.dumps({"id": "c", "object": "chat.completion", "created": 0, "choices": []}).encode())
        elif action == "400":
            self.reply(400, b'{"error": {"message": "prompt rejected"}}')
        elif action == "401":
            said = self.headers.get("Authorization", "")
            self.reply(401, json.dumps({"error": {"message": f"bad key {said}"}}).encode())


@pytest.fixture
def endpoint(request, monkeypatch) -> Iterator[Endpoint]:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)  # loopback requests go straight to the server
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = Endpoint(getattr(request, "param", {}))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The engine's waits between attempts, recorded (and slept, they are short)."""
    seen: list[float] = []

    def sleep(seconds: float) -> None:
        seen.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(
        openai_engine, "time", types.SimpleNamespace(sleep=sleep, monotonic=time.monotonic, time=time.time)
    )
    return seen


def engine(url: str, monkeypatch, **limits: float) -> OpenAIEngine:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    eng = OpenAIEngine("gpt-test", base_url=url, timeout=TIMEOUT, concurrency=8)
    eng.retry_base_seconds = 0.01
    eng.retry_max_seconds = 5.0
    for k, v in limits.items():
        setattr(eng, k, v)
    return eng


def prompt(marker: str) -> Prompt:
    return Prompt(({"role": "user", "content": f"Check item-{marker}: 2 + 2 = 5"},))


@pytest.mark.parametrize(
    "endpoint",
    [{"A": ["500", "ok"], "B": ["429:0.05", "ok"], "C": ["badjson", "ok"], "D": ["empty", "ok"], "E": ["stall", "ok"]}],
    indirect=True,
)
def test_transient_faults_are_retried_and_answered(endpoint, waits, monkeypatch):
    eng = engine(endpoint.url, monkeypatch)
    outs = eng.generate([prompt(m) for m in "ABCDE"], SamplingParams(n=2, max_tokens=16))
    assert [[c.text for c in o] for o in outs] == [[VERDICT, VERDICT]] * 5
    assert not any(isinstance(c, FailedCompletion) for o in outs for c in o)
    assert dict(endpoint.attempts) == {m: 2 for m in "ABCDE"}
    assert 0.05 in waits  # the Retry-After the 429 asked for, as given
    others = [w for w in waits if w != 0.05]
    assert len(others) == 4 and all(0.005 <= w <= 0.01 for w in others)  # first backoff, half to full jitter


@pytest.mark.parametrize(
    "endpoint",
    [
        {
            "F": ["500"],
            "G": ["stall"],
            "H": ["empty"],
            "I": ["badjson"],
            "J": ["429:30"],  # asks for longer than the longest wait: no point waiting
            "K": ["400"],  # refused for this item alone: not retried
            "L": ["ok"],
        }
    ],
    indirect=True,
)
def test_persistent_faults_become_per_item_errors_within_bounds(endpoint, waits, monkeypatch):
    eng = engine(endpoint.url, monkeypatch, max_attempts=4, retry_budget_seconds=3.0)
    outs = eng.generate([prompt(m) for m in "FGHIJKL"], SamplingParams(n=1, max_tokens=16))
    failed = {m: o[0] for m, o in zip("FGHIJKL", outs) if isinstance(o[0], FailedCompletion)}
    assert sorted(failed) == list("FGHIJK") and outs[-1][0].text == VERDICT
    assert all(c.finish_reason == "error" and c.text == "" for c in failed.values())
    assert "HTTP 500" in failed["F"].error and "4 attempt(s)" in failed["F"].error
    assert "request timeout" in failed["G"].error
    assert "empty choices list" in failed["H"].error
    assert "invalid JSON" in failed["I"].error
    assert "HTTP 429" in failed["J"].error and "HTTP 400" in failed["K"].error
    assert failed["F"].record_fields()["error"] == failed["F"].error
    attempts = endpoint.attempts
    assert (attempts["F"], attempts["H"], attempts["I"], attempts["J"], attempts["K"]) == (4, 4, 4, 1, 1)
    assert 1 <= attempts["G"] <= 3  # each stalled attempt takes the 1.5 s timeout; the budget is 3 s
    assert max(waits) > 0.02 and sum(waits) <= 4 * (0.01 + 0.02 + 0.04)  # doubling, three waits at most per item


def test_retry_after_reads_seconds_milliseconds_and_dates():
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= (retry_after({"retry-after": later}) or 0) <= 31
    assert retry_after({"retry-after": "soon"}) is None and retry_after({}) is None


@pytest.mark.parametrize("endpoint", [{"A": ["401"], "B": ["401"]}], indirect=True)
def test_a_refused_key_stops_at_once_in_one_line_without_the_key(endpoint, monkeypatch):
    eng = engine(endpoint.url, monkeypatch)
    with pytest.raises(EngineError) as e:
        eng.generate([prompt("A"), prompt("B")], SamplingParams(max_tokens=8))
    msg = str(e.value)
    assert "HTTP 401" in msg and "$OPENAI_API_KEY" in msg and "\n" not in msg
    assert SECRET not in msg and "***" in msg  # the endpoint echoed the key back
    assert sum(endpoint.attempts.values()) <= 2  # no retries


def write_samples(run_dir: Path, markers: str) -> None:
    rows = [
        {
            "id": f"q{m}/s0",
            "qid": f"q{m}",
            "question": f"What is item-{m} plus two?",
            "response": "Let's break it down step by step:\n\n2 + 2 = 5.\nThe answer is 5.",
            "correct": False,
            "gold": "4",
            "dataset_type": "gsm8k",
        }
        for m in markers
    ]
    atomic_write_jsonl(run_dir / "iter_1" / "01_samples.jsonl", rows)


def exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as e:
        run(critique_main, argv)
    return int(e.value.code or 0)


@pytest.mark.parametrize(
    "endpoint",
    [{"A": ["500-echo"], "B": ["429:0.01", "ok"], "C": ["empty"], "D": ["ok"], "E": ["stall"], "F": ["badjson"]}],
    indirect=True,
)
def test_critique_stage_records_errors_per_item_and_a_rerun_retries_only_them(
    endpoint, waits, monkeypatch, tmp_path, capsys, caplog
):
    caplog.set_level("DEBUG")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    for k, v in (("max_attempts", 3), ("retry_base_seconds", 0.01), ("timeout_seconds", TIMEOUT)):
        monkeypatch.setattr(OpenAIEngine, k, v)
    run_dir = tmp_path / "run"
    write_samples(run_dir, "ABCDEF")
    argv = ["--run-dir", str(run_dir), "--iter", "1", "--critic-model", "gpt-test", "--critic-engine", "openai"]
    argv += ["--critic-base-url", endpoint.url, "--max-tokens", "32"]
    out, errors = run_dir / "iter_1" / "02_critiques.jsonl", run_dir / "iter_1" / "02_critiques.errors.jsonl"

    assert exit_code(argv) == 1
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "4 record(s)" in lines[0] and "rerun to generate only them" in lines[0]
    assert sorted(json.loads(x)["id"] for x in out.read_text().splitlines()) == ["qB/s0/c0", "qD/s0/c0"]
    listed = {r["id"]: r["error"] for r in map(json.loads, errors.read_text().splitlines())}
    assert sorted(listed) == ["qA/s0/c0", "qC/s0/c0", "qE/s0/c0", "qF/s0/c0"]
    assert "HTTP 500" in listed["qA/s0/c0"] and "empty choices" in listed["qC/s0/c0"]
    assert read_manifest(run_dir)["steps"]["iter_1/02_critiques"]["status"] == "failed"

    before = Counter(endpoint.attempts)
    endpoint.healthy = True  # the endpoint recovers; the rerun asks only for what failed
    assert exit_code(argv) == 0
    asked = endpoint.attempts - before
    assert dict(asked) == {"A": 1, "C": 1, "E": 1, "F": 1}
    ids = [json.loads(x)["id"] for x in out.read_text().splitlines()]
    assert sorted(ids) == [f"q{m}/s0/c0" for m in "ABCDEF"] and len(set(ids)) == 6
    assert not errors.exists()
    assert read_manifest(run_dir)["steps"]["iter_1/02_critiques"]["status"] == "done"

    logs = err + capsys.readouterr().err + caplog.text
    assert "upstream refused Bearer ***" in logs  # the echo was seen, with the key taken out
    assert SECRET not in logs
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
