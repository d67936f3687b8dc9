"""Generation engines without models: the OpenAI-compatible engine against a real HTTP server on
loopback, and the data-parallel worker pool of the vLLM engine with stand-in worker processes."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import queue
import random
import signal
import sys
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from selfimprove.core.errors import UsageError
from selfimprove.generation import engines
from selfimprove.generation.engines import (
    Completion,
    DataParallelWorkers,
    OpenAIEngine,
    SamplingParams,
    VLLMEngine,
    _visible_gpus,
    _vllm_worker,
    contiguous_shards,
    gpu_groups,
    make_engine,
)
from selfimprove.generation.engines import vllm as vllm_engine
from selfimprove.generation.prompts import Prompt

KEY_ENV = "SOME_TEST_KEY"
SECRET = "sk-test-0123456789-secret"


# =========================================================================== OpenAI-compatible


class Endpoint:
    """What the loopback server saw, and how it should misbehave."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # {"path", "auth", "body"}
        self.fail_next = 0  # answer this many requests with HTTP 500
        self.max_delay = 0.0  # random delay before each answer (seconds)
        self.rng = random.Random(0)
        self.inflight = 0
        self.max_inflight = 0
        self.base_url = ""


def _choice_text(body: dict, i: int) -> str:
    last_user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    text = f"{last_user}#{i}"
    return engines.truncate_at_stop(text, body.get("stop") or ())


def _handler(state: Endpoint):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def _send(self, code: int, obj: dict, headers: dict | None = None) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            with state.lock:
                state.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                fail = state.fail_next > 0
                state.fail_next -= fail
                delay = state.rng.uniform(0.0, state.max_delay) if state.max_delay else 0.0
                state.inflight += 1
                state.max_inflight = max(state.max_inflight, state.inflight)
            try:
                time.sleep(delay)
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                elif fail:
                    # tell the client library not to retry by itself, so the engine's own retry runs
                    self._send(
                        500, {"error": {"message": "overloaded", "type": "server_error"}}, {"x-should-retry": "false"}
                    )
                else:
                    choices = [
                        {
                            "index": i,
                            "finish_reason": "stop",
                            "logprobs": None,
                            "message": {"role": "assistant", "content": _choice_text(body, i)},
                        }
                        for i in range(body.get("n") or 1)
                    ]
                    self._send(
                        200,
                        {
                            "id": "chatcmpl-test",
                            "object": "chat.completion",
                            "created": 0,
                            "model": body.get("model"),
                            "choices": choices,
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                        },
                    )
            finally:
                with state.lock:
                    state.inflight -= 1

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # room for every concurrent connection (the default backlog is 5)
    daemon_threads = True


@pytest.fixture
def endpoint(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(OpenAIEngine, "timeout_seconds", 10.0)  # no test waits long on a lost request
    state = Endpoint()
    server = _Server(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _engine(endpoint: Endpoint, monkeypatch, **kw) -> OpenAIEngine:
    monkeypatch.setenv(KEY_ENV, SECRET)
    return OpenAIEngine(model="m", base_url=endpoint.base_url, api_key_env=KEY_ENV, **kw)


def texts(out: list[list[Completion]]) -> list[list[str]]:
    return [[c.text for c in completions] for completions in out]


def _prompts(k: int) -> list[Prompt]:
    return [
        Prompt(
            ({"role": "system", "content": "be brief"}, {"role": "user", "content": f"q{i}"}),
            prefix="ignored by chat APIs",
        )
        for i in range(k)
    ]


def test_openai_chat_returns_n_completions_in_prompt_order(endpoint, monkeypatch):
    engine = _engine(endpoint, monkeypatch)
    params = SamplingParams(n=3, temperature=0.7, top_p=0.9, max_tokens=50, seed=11)
    out = engine.generate(_prompts(4), params)
    assert texts(out) == [[f"q{i}#{k}" for k in range(3)] for i in range(4)]
    # finish reasons come from the endpoint; usage counts all three choices, so none is split off
    assert {(c.finish_reason, c.prompt_tokens, c.completion_tokens) for o in out for c in o} == {("stop", 1, None)}
    assert len(endpoint.requests) == 4
    for req in endpoint.requests:
        assert req["path"] == "/v1/chat/completions"
        assert req["auth"] == f"Bearer {SECRET}"
        body = req["body"]
        assert (body["model"], body["n"], body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (
            "m",
            3,
            0.7,
            0.9,
            50,
            11,
        )
    # messages are the prompt's conversation, nothing added
    sent = sorted((r["body"]["messages"] for r in endpoint.requests), key=lambda m: m[-1]["content"])
    assert sent == [[{"role": "system", "content": "be brief"}, {"role": "user", "content": f"q{i}"}] for i in range(4)]
    assert engine.generate([], params) == []


def test_openai_stop_strings_are_sent(endpoint, monkeypatch):
    engine = _engine(endpoint, monkeypatch)
    out = engine.generate(_prompts(2), SamplingParams(n=2, stop=("#",)))
    assert texts(out) == [["q0", "q0"], ["q1", "q1"]]
    assert all(r["body"]["stop"] == ["#"] for r in endpoint.requests)


def test_openai_concurrent_requests_keep_prompt_order(endpoint, monkeypatch):
    endpoint.max_delay = 0.03
    engine = _engine(endpoint, monkeypatch, concurrency=8)
    out = engine.generate(_prompts(20), SamplingParams(n=2))
    assert texts(out) == [[f"q{i}#0", f"q{i}#1"] for i in range(20)]
    assert len(endpoint.requests) == 20
    assert endpoint.max_inflight > 1  # the requests really overlapped


def test_openai_server_error_is_retried(endpoint, monkeypatch, capsys, caplog):
    engine = _engine(endpoint, monkeypatch)
    assert OpenAIEngine.retry_base_seconds == 1.0 and OpenAIEngine.max_attempts == 5  # defaults
    engine.retry_base_seconds = 0.01
    endpoint.fail_next = 1
    t0 = time.time()
    assert texts(engine.generate(_prompts(1), SamplingParams(n=2))) == [["q0#0", "q0#1"]]
    assert time.time() - t0 < 5
    assert len(endpoint.requests) == 2  # one failure, one retry
    err = capsys.readouterr().err + caplog.text
    assert "m: HTTP 500 (overloaded); attempt 1, trying again in 0.0" in err  # 0.005 to 0.01 s: jitter
    assert SECRET not in err


def test_openai_gives_up_after_max_attempts(endpoint, monkeypatch, capsys):
    engine = _engine(endpoint, monkeypatch)
    engine.retry_base_seconds = 0.0
    engine.max_attempts = 3
    endpoint.fail_next = 100
    out = engine.generate(_prompts(1), SamplingParams())  # the item is an error, asked again by a rerun
    assert out[0][0].finish_reason == "error" and "HTTP 500" in getattr(out[0][0], "error", "")
    assert len(endpoint.requests) == 3
    assert SECRET not in capsys.readouterr().err


def test_openai_local_endpoint_needs_no_key(endpoint, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    engine = OpenAIEngine(model="m", base_url=endpoint.base_url, api_key_env=KEY_ENV)
    assert texts(engine.generate(_prompts(1), SamplingParams())) == [["q0#0"]]
    assert endpoint.requests[0]["auth"] == "Bearer EMPTY"


def test_openai_missing_key_without_base_url_exits_clearly(monkeypatch):
    assert OpenAIEngine.timeout_seconds == 600.0  # the default outside these tests
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(UsageError, match=rf"needs an API key in \${KEY_ENV}"):
        OpenAIEngine(model="m", api_key_env=KEY_ENV)
    with pytest.raises(UsageError, match=rf"\${KEY_ENV}"):
        make_engine("m", engine="openai", api_key_env=KEY_ENV)


def test_openai_rejects_unknown_mode(endpoint, monkeypatch):
    with pytest.raises(UsageError, match="chat or completions"):
        _engine(endpoint, monkeypatch, mode="edits")


def test_openai_key_is_never_written(endpoint, monkeypatch, tmp_path):
    from selfimprove.stages import critique

    monkeypatch.setenv(KEY_ENV, SECRET)
    engine = make_engine("critic-m", base_url=endpoint.base_url, api_key_env=KEY_ENV)
    assert isinstance(engine, OpenAIEngine) and engine.client.timeout == 10.0
    params = SamplingParams(n=2, stop=("x",))
    assert SECRET not in engine.name and SECRET not in json.dumps(params.as_dict())

    # a whole critique stage against the endpoint: the key is in no file it writes
    samples = tmp_path / "samples.jsonl"
    samples.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"s{i}",
                    "qid": f"q{i}",
                    "question": f"Q{i}?",
                    "response": "1 + 1 = 3\nThe answer is 3.",
                    "correct": False,
                }
            )
            + "\n"
            for i in range(3)
        )
    )
    out = tmp_path / "critiques.jsonl"
    assert (
        critique.main(
            [
                "--samples",
                str(samples),
                "--out",
                str(out),
                "--critic-model",
                "critic-m",
                "--critic-base-url",
                endpoint.base_url,
                "--critic-api-key-env",
                KEY_ENV,
                "--n",
                "2",
                "--run-dir",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 6 and {r["critic_model"] for r in records} == {"critic-m"}
    assert all(r["auth"] == f"Bearer {SECRET}" for r in endpoint.requests)  # it was used...
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert out in written and len(written) > 2
    for p in written:  # ...and written nowhere
        assert SECRET not in p.read_text(errors="replace"), p


# =========================================================================== GPU grouping


def test_visible_gpus_follows_cuda_visible_devices(monkeypatch):
    for value, expected in [
        ("", []),
        ("-1", []),
        ("0", ["0"]),
        ("2,3", ["2", "3"]),
        (" 1, 2 ", ["1", "2"]),
        ("GPU-ab12,GPU-cd34", ["GPU-ab12", "GPU-cd34"]),
    ]:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
        assert _visible_gpus() == expected, value


def test_visible_gpus_asks_nvidia_smi_when_unset(monkeypatch):
    import subprocess

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    listing = "GPU 0: NVIDIA H100 (UUID: GPU-a)\nGPU 1: NVIDIA H100 (UUID: GPU-b)\n"
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: types.SimpleNamespace(stdout=listing))
    assert _visible_gpus() == ["0", "1"]

    def missing(*a, **k):
        raise FileNotFoundError("nvidia-smi")

    monkeypatch.setattr(subprocess, "run", missing)
    assert _visible_gpus() == []


def test_gpu_groups_arithmetic():
    eight = [str(i) for i in range(8)]
    assert gpu_groups(eight, tp=1) == eight
    assert gpu_groups(eight, tp=2) == ["0,1", "2,3", "4,5", "6,7"]
    assert gpu_groups(eight, tp=2, dp=2) == ["0,1", "2,3"]
    assert gpu_groups(eight, tp=3) == ["0,1,2", "3,4,5"]  # leftover GPUs stay idle
    assert gpu_groups(["4", "6"], tp=2) == ["4,6"]  # ids are kept, not renumbered
    assert gpu_groups(eight, tp=8, dp=1) == [",".join(eight)]


@pytest.mark.parametrize(
    "gpus, tp, dp, message",
    [
        (4, 2, 3, "dp=3 x tp=2 needs 6 GPUs, 4 visible"),
        (2, 4, None, "dp=1 x tp=4 needs 4 GPUs, 2 visible"),
        (8, 1, 9, "dp=9 x tp=1 needs 9 GPUs, 8 visible"),
        (4, 0, None, "tp=0; the tensor-parallel size must be at least 1"),
        (4, 1, 0, "dp=0; the number of data-parallel engines must be at least 1"),
    ],
)
def test_gpu_groups_refuses_impossible_layouts(gpus, tp, dp, message):
    with pytest.raises(UsageError, match=f"^{message}"):
        gpu_groups([str(i) for i in range(gpus)], tp, dp)


def test_contiguous_shards():
    assert contiguous_shards(range(10), 3) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert contiguous_shards(range(2), 3) == [[0], [1], []]
    assert contiguous_shards([], 2) == [[], []]
    assert contiguous_shards(range(6), 1) == [list(range(6))]


# =========================================================================== data-parallel workers


def _echo_worker(rank, devices, kwargs, inbox, outbox):
    """Stand-in for a vLLM worker (module level, so spawned processes can import it)."""
    if devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = devices
    if rank == kwargs.get("fail_start_rank"):
        outbox.put(("error", rank, "OSError: device not found"))
        return
    outbox.put(("ready", rank, None))
    while True:
        job = inbox.get()
        if job is None:
            if kwargs.get("ignore_stop"):
                time.sleep(120)
            break
        texts, p = job
        if "EXIT" in texts:
            os._exit(3)  # dies without a word
        if "DIE_LOCKED" in texts:  # dies holding its outbox's writer lock (a crash mid-send)
            outbox._wlock.acquire()
            os._exit(3)
        if any(t.startswith("SLOW") for t in texts):
            time.sleep(0.5)
        try:
            if "FAIL" in texts:
                raise ValueError("cannot generate for FAIL")
            seen = os.environ.get("CUDA_VISIBLE_DEVICES")
            each = p if isinstance(p, list) else [p] * len(texts)  # one parameter dict per text, or one for all
            outbox.put(
                (
                    "ok",
                    rank,
                    [[f"{t}|{k}|rank={rank}|devices={seen}" for k in range(q["n"])] for t, q in zip(texts, each)],
                )
            )
        except BaseException as e:
            outbox.put(("error", rank, f"{type(e).__name__}: {e}"))


@pytest.fixture(autouse=True)
def _watchdog(request):
    """A hung test (a lost worker message, a stuck process) ends the run with every thread's stack."""
    import faulthandler

    capture = request.config.pluginmanager.getplugin("capturemanager")

    def fire():
        if capture is not None:
            capture.suspend_global_capture(in_=True)  # let the stacks reach the terminal
        print(f"\n{request.node.nodeid} still running after 60 s; stacks:", file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        for p in mp.active_children():
            print(f"child {p.name} pid={p.pid} alive={p.is_alive()} exitcode={p.exitcode}", file=sys.stderr)
        sys.stderr.flush()
        os.system(f"ps -o pid,ppid,stat,wchan:24,args --ppid {os.getpid()} >&2")
        os._exit(1)

    timer = threading.Timer(60, fire)
    timer.daemon = True
    timer.start()
    yield
    timer.cancel()


def _children(label: str) -> list:
    return [p for p in mp.active_children() if p.name.startswith(label)]


@pytest.fixture(scope="module")
def pool():
    workers = DataParallelWorkers(_echo_worker, ["0,1", "2,3", "4,5"], {}, label="echo")
    workers.poll_seconds = 0.2
    try:
        yield workers
    finally:
        workers.close(timeout=5)


def test_workers_shard_in_order_on_their_own_devices(pool):
    assert len(pool) == 3 and all(p.is_alive() for p in pool.processes)
    texts = [f"t{i}" for i in range(10)]
    out = pool.generate(texts, {"n": 2})
    assert len(out) == 10
    expected_rank = [0] * 4 + [1] * 4 + [2] * 2  # contiguous shards of ceil(10 / 3)
    devices = ["0,1", "2,3", "4,5"]
    for i, completions in enumerate(out):
        r = expected_rank[i]
        assert completions == [f"t{i}|{k}|rank={r}|devices={devices[r]}" for k in range(2)]


def test_workers_shard_per_text_parameters_with_their_texts(pool):
    out = pool.generate([f"t{i}" for i in range(5)], [{"n": n} for n in (1, 2, 3, 1, 2)])
    assert [len(c) for c in out] == [1, 2, 3, 1, 2]
    assert out[2][2] == "t2|2|rank=1|devices=2,3"  # shards of 2: t2 is worker 1's first text
    with pytest.raises(ValueError, match="2 parameter sets for 3 texts"):
        pool.generate(["a", "b", "c"], [{"n": 1}] * 2)


def test_workers_with_fewer_texts_than_workers(pool):
    assert pool.generate(["a", "b"], {"n": 1}) == [["a|0|rank=0|devices=0,1"], ["b|0|rank=1|devices=2,3"]]
    assert pool.generate([], {"n": 1}) == []


def test_worker_error_during_generate_names_rank_and_pool_recovers(pool):
    texts = [f"t{i}" for i in range(10)]
    texts[5] = "FAIL"  # in the shard of worker 1
    with pytest.raises(RuntimeError, match=r"^echo 1 failed: ValueError: cannot generate for FAIL$"):
        pool.generate(texts, {"n": 1})
    # the other workers' answers to that call are not mistaken for the next call's
    out = pool.generate(["x", "y", "z"], {"n": 1})
    assert out == [["x|0|rank=0|devices=0,1"], ["y|0|rank=1|devices=2,3"], ["z|0|rank=2|devices=4,5"]]


def test_worker_failing_at_start_is_named_and_the_rest_stopped():
    t0 = time.time()
    with pytest.raises(RuntimeError, match=r"^startfail 1 failed to start: OSError: device not found$"):
        DataParallelWorkers(_echo_worker, ["0", "1", "2"], {"fail_start_rank": 1}, label="startfail")
    assert _children("startfail") == []
    assert time.time() - t0 < 20


def test_worker_dying_without_an_answer_is_an_error():
    workers = DataParallelWorkers(_echo_worker, ["0", "1"], {}, label="dying")
    workers.poll_seconds = 0.2
    try:
        with pytest.raises(RuntimeError, match=r"^dying 1 failed: process exited with code 3$"):
            workers.generate(["a", "EXIT"], {"n": 1})
        # the survivor still answers
        assert workers.generate(["b"], {"n": 1}) == [["b|0|rank=0|devices=0"]]
    finally:
        workers.close(timeout=5)
    assert _children("dying") == []


def test_worker_dying_with_its_queue_locked_does_not_block_the_others():
    workers = DataParallelWorkers(_echo_worker, ["0", "1"], {}, label="locked")
    workers.poll_seconds = 0.2
    try:
        # worker 0 answers after worker 1 died holding its queue's lock: the answer still arrives
        with pytest.raises(RuntimeError, match=r"^locked 1 failed: process exited with code 3$"):
            workers.generate(["SLOW a", "DIE_LOCKED"], {"n": 1})
        assert workers.generate(["b"], {"n": 1}) == [["b|0|rank=0|devices=0"]]
    finally:
        workers.close(timeout=5)


def test_close_stops_workers_and_terminates_stuck_ones():
    calm = DataParallelWorkers(_echo_worker, [None, None], {}, label="calm")
    stuck = DataParallelWorkers(_echo_worker, [None, None], {"ignore_stop": True}, label="stuck")
    calm_procs, stuck_procs = calm.processes, stuck.processes
    calm.close(timeout=10)
    assert [p.exitcode for p in calm_procs] == [0, 0]  # stopped by the None job
    t0 = time.time()
    stuck.close(timeout=0.5)
    assert time.time() - t0 < 10
    assert [p.exitcode for p in stuck_procs] == [-signal.SIGTERM] * 2
    with pytest.raises(RuntimeError, match="closed"):
        calm.generate(["a"], {"n": 1})
    calm.close()  # closing twice is harmless


# =========================================================================== VLLMEngine wiring


class _FakeLLM:
    """Stands in for ``vllm.LLM``: records how it was built and what it was asked."""

    instances: list[_FakeLLM] = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.devices = os.environ.get("CUDA_VISIBLE_DEVICES")
        self.calls = []
        self.shut_down = 0
        self.llm_engine = types.SimpleNamespace(engine_core=types.SimpleNamespace(shutdown=self._shutdown))
        _FakeLLM.instances.append(self)

    def _shutdown(self):
        self.shut_down += 1

    def generate(self, texts, sp, use_tqdm=True):
        self.calls.append((list(texts), sp))
        if any("FAIL" in t for t in texts):
            raise ValueError("engine failure")
        each = sp if isinstance(sp, list) else [sp] * len(texts)  # vLLM takes one per prompt, or one for all
        return [
            types.SimpleNamespace(
                prompt_token_ids=list(range(len(t.split()))),
                outputs=[
                    types.SimpleNamespace(
                        text=f"{t}>{k}", finish_reason="length" if k else "stop", token_ids=list(range(k + 2))
                    )
                    for k in range(q.n)
                ],
            )
            for t, q in zip(texts, each)
        ]


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = _FakeLLM  # type: ignore[attr-defined]
    module.SamplingParams = lambda **kw: types.SimpleNamespace(**kw)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(
        vllm_engine, "load_tokenizer", lambda model: types.SimpleNamespace(eos_token="</s>", chat_template=None)
    )
    _FakeLLM.instances = []
    return module


def test_vllm_worker_protocol(fake_vllm, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")  # restored after the test
    inbox: queue.Queue = queue.Queue()
    outbox: queue.Queue = queue.Queue()
    for job in ((["a", "b"], {"n": 2}), (["FAIL"], {"n": 1}), None):
        inbox.put(job)
    _vllm_worker(1, "2,3", {"model": "m"}, inbox, outbox)
    assert outbox.get_nowait() == ("ready", 1, None)
    assert outbox.get_nowait() == (
        "ok",
        1,
        [
            [Completion("a>0", "stop", 1, 2), Completion("a>1", "length", 1, 3)],
            [Completion("b>0", "stop", 1, 2), Completion("b>1", "length", 1, 3)],
        ],
    )
    assert outbox.get_nowait() == ("error", 1, "ValueError: engine failure")
    assert outbox.empty()
    (llm,) = _FakeLLM.instances
    assert llm.kwargs == {"model": "m"} and llm.devices == "2,3"  # devices set before the engine


def test_vllm_worker_reports_start_failure(fake_vllm):
    def broken(**kwargs):
        raise MemoryError("no room for the KV cache")

    fake_vllm.LLM = broken
    outbox: queue.Queue = queue.Queue()
    _vllm_worker(0, None, {}, queue.Queue(), outbox)
    assert outbox.get_nowait() == ("error", 0, "MemoryError: no room for the KV cache")


def test_vllm_engine_on_cpu_runs_in_process(fake_vllm, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)  # restored after the test
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    monkeypatch.setenv("VLLM_CPU_MEMORY_UTILIZATION", "0.25")
    engine = VLLMEngine("m", model_type="base", seed=5)
    assert (engine.dp, engine.cpu, engine.name) == (1, True, "m")
    # the engine core runs in this process, so its KV cache is sized explicitly
    assert engine.in_process and os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    (llm,) = _FakeLLM.instances
    assert llm.kwargs["enforce_eager"] is True and llm.kwargs["seed"] == 5
    assert llm.kwargs["gpu_memory_utilization"] == 0.25
    import psutil

    assert llm.kwargs["kv_cache_memory_bytes"] == int(0.25 * psutil.virtual_memory().total)  # "m": no local weights
    assert len(engine._procs) == 0  # nothing of its own to pause while another engine works
    notice = logging.LogRecord(
        "vllm.v1.worker.cpu_worker",
        logging.WARNING,
        "",
        0,
        "CPU backend doesn't allow to use `torch.set_num_threads` after the thread binding, skip it.",
        None,
        None,
    )
    cpu_logger = logging.getLogger("vllm.v1.worker.cpu_worker")
    assert not cpu_logger.filter(notice)  # vLLM's own harmless in-process notice is dropped
    assert cpu_logger.filter(
        logging.LogRecord("vllm.v1.worker.cpu_worker", logging.WARNING, "", 0, "other", None, None)
    )
    prompt = Prompt(({"role": "user", "content": "hi"},), prefix="Sure")
    assert engine.generate([prompt], SamplingParams(n=2, seed=3)) == [
        [
            Completion("Human: hi\n\nAssistant:Sure>0", "stop", 3, 2),
            Completion("Human: hi\n\nAssistant:Sure>1", "length", 3, 3),
        ]
    ]
    ((texts, sp),) = llm.calls
    assert sp.seed is None  # engine-wide seed on CPU
    assert sp.stop == ["<|end_of_text|>", "</s>", "Human", "Assistant"]  # the released base-model stops
    assert engine.generate([], SamplingParams()) == []
    assert engine.context_length == 4096 and engine.count_prompt_tokens is not None
    engine.close()
    assert llm.shut_down == 1  # the engine core was asked to stop
    engine.close()
    assert llm.shut_down == 1
    with pytest.raises(RuntimeError, match="closed"):
        engine.generate([prompt], SamplingParams())


def test_vllm_engine_on_cpu_with_engine_processes_when_asked(fake_vllm, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")
    engine = VLLMEngine("m", model_type="base")
    (llm,) = _FakeLLM.instances
    assert not engine.in_process and "kv_cache_memory_bytes" not in llm.kwargs  # vLLM sizes it itself
    engine.close()


def test_vllm_engine_caps_max_tokens_per_prompt_in_one_batch(fake_vllm, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    engine = VLLMEngine("m", model_type="base")
    (llm,) = _FakeLLM.instances
    prompts = [Prompt(({"role": "user", "content": f"q{i}"},)) for i in range(3)]
    out = engine.generate_capped(prompts, SamplingParams(max_tokens=64, seed=2), [64, 10, 64])
    assert [c[0].text for c in out] == [f"Human: q{i}\n\nAssistant:>0" for i in range(3)]
    ((texts, sps),) = llm.calls  # one batch, one sampling-parameter set per prompt
    assert len(texts) == 3 and [sp.max_tokens for sp in sps] == [64, 10, 64]
    assert all(sp.stop == ["<|end_of_text|>", "</s>", "Human", "Assistant"] for sp in sps)
    engine.generate_capped(prompts[:2], SamplingParams(max_tokens=64), [12, 12])  # one limit: one plain call
    assert llm.calls[1][1].max_tokens == 12
    with pytest.raises(ValueError, match="2 max_tokens for 3 prompts"):
        engine.generate_capped(prompts, SamplingParams(), [1, 2])
    engine.close()


def test_vllm_worker_takes_one_parameter_set_per_text(fake_vllm):
    inbox: queue.Queue = queue.Queue()
    outbox: queue.Queue = queue.Queue()
    inbox.put((["a", "b"], [{"n": 1, "max_tokens": 5}, {"n": 2, "max_tokens": 9}]))
    inbox.put(None)
    _vllm_worker(0, None, {"model": "m"}, inbox, outbox)
    assert outbox.get_nowait() == ("ready", 0, None)
    kind, _, outs = outbox.get_nowait()
    assert kind == "ok" and [len(c) for c in outs] == [1, 2]
    (llm,) = _FakeLLM.instances
    assert [sp.max_tokens for sp in llm.calls[0][1]] == [5, 9]


def test_cpu_kv_cache_is_the_memory_fraction_less_the_weights(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"x" * 1000)
    (tmp_path / "pytorch_model.bin").write_bytes(b"x" * 500)
    (tmp_path / "config.json").write_text("{}")
    assert vllm_engine.weights_bytes(str(tmp_path)) == 1500
    assert vllm_engine.weights_bytes("org/hub-id") == 0
    gib = 1 << 30
    assert vllm_engine.cpu_kv_cache_bytes(str(tmp_path), 0.5, 8 * gib) == 4 * gib - 1500
    assert vllm_engine.cpu_kv_cache_bytes(str(tmp_path), 0.01, gib) == 256 << 20  # the floor


def test_vllm_engine_on_gpus_uses_one_worker_per_group(fake_vllm, monkeypatch):
    made = []

    class FakePool:
        processes: list = []  # no real processes to pause

        def __init__(self, target, groups, kwargs, label="worker"):
            self.target, self.groups, self.kwargs, self.label = target, groups, kwargs, label
            self.jobs, self.closed = [], False
            made.append(self)

        def generate(self, texts, params):
            self.jobs.append((texts, params))
            return [[t] for t in texts]

        def close(self):
            self.closed = True

    monkeypatch.setattr(vllm_engine, "DataParallelWorkers", FakePool)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3,4,5")
    engine = VLLMEngine("m", model_type="base", tp=2)
    (pool,) = made
    assert engine.dp == 3 and not engine.cpu and _FakeLLM.instances == []
    assert pool.target is _vllm_worker and pool.groups == ["0,1", "2,3", "4,5"]
    assert pool.label == "vLLM engine"
    assert pool.kwargs["tensor_parallel_size"] == 2 and pool.kwargs["enforce_eager"] is False
    assert pool.kwargs["gpu_memory_utilization"] == 0.9
    out = engine.generate([Prompt(({"role": "user", "content": f"q{i}"},)) for i in range(4)], SamplingParams(seed=7))
    assert out == [[f"Human: q{i}\n\nAssistant:"] for i in range(4)]
    assert pool.jobs[0][1]["seed"] == 7  # per-request seeds on GPU
    engine.close()
    assert pool.closed

    with pytest.raises(UsageError, match="dp=4 x tp=2 needs 8 GPUs, 6 visible"):
        VLLMEngine("m", model_type="base", tp=2, dp=4)

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # one group: in-process, no worker pool
    engine = VLLMEngine("m", model_type="base")
    assert engine.dp == 1 and len(made) == 1 and len(_FakeLLM.instances) == 1
