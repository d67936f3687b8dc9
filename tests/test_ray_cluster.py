"""A real two-node Ray cluster on this machine's loopback addresses: the sample stage runs through
ENGINE=ray on the embedded model with two replicas, one replica's process is killed mid-run,
and the stage still writes every sample id exactly once. Every process started here is stopped
by its id (the nodes by their process groups) before the test ends."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct"
RAY = Path(sys.executable).parent / "ray"
HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"  # loopback; Ray would turn "127.0.0.1" into the host's address


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackCluster:
    """``ray start --head`` and one more ``ray start`` node, 1 CPU and a 200 MB object store each."""

    def __init__(self, tmp: Path):
        self.port = free_port()
        self.address = f"{HEAD_IP}:{self.port}"
        self.temp_dir = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # Ray's socket paths must stay short
        self.logs = tmp
        self.nodes: list[subprocess.Popen] = []
        # token authentication with a token of its own: nothing read from or written to ~/.ray
        self.env = dict(
            os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32)
        )
        self.env.pop("RAY_ADDRESS", None)

    def _start(self, name: str, *args: str) -> None:
        common = ["--block", "--num-cpus", "1", "--num-gpus", "0", "--object-store-memory", str(200 * 2**20)]
        common += ["--disable-usage-stats", "--dashboard-agent-listen-port", str(free_port())]
        log = open(self.logs / f"{name}.log", "w")
        self.nodes.append(
            subprocess.Popen(
                [str(RAY), "start", *args, *common],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as one below
            )
        )

    def __enter__(self) -> LoopbackCluster:
        try:
            self._start(
                "head",
                "--head",
                "--port",
                str(self.port),
                "--node-ip-address",
                HEAD_IP,
                "--include-dashboard",
                "false",
                "--dashboard-port",
                str(free_port()),
                "--ray-client-server-port",
                str(free_port()),
                "--temp-dir",
                self.temp_dir,
            )
            self._wait_port(HEAD_IP, self.port, 120)
            self._start("node", "--address", self.address, "--node-ip-address", WORKER_IP)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_port(self, host: str, port: int, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
                return
            if any(p.poll() is not None for p in self.nodes):
                raise RuntimeError(f"a Ray node exited: see {self.logs}")
            time.sleep(0.5)
        raise TimeoutError(f"Ray head not listening on {host}:{port} after {timeout} s")

    def stop(self) -> None:
        for p in self.nodes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=30)
        self.nodes = []

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kill_pids(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def test_sample_stage_on_a_two_node_cluster_survives_a_killed_replica(tmp_path):
    if not (MODEL / "config.json").is_file():
        pytest.skip("embedded model not prepared (scripts/setup_env.sh)")
    questions = tmp_path / "questions.jsonl"
    qs = [
        {
            "id": f"loop/test/{i}",
            "dataset_type": "gsm8k",
            "question": f"Tom has {i} apples and buys {i + 3} more. How many apples does he have?",
            "gold": str(2 * i + 3),
        }
        for i in range(16)
    ]
    questions.write_text("".join(json.dumps(q) + "\n" for q in qs))
    out = tmp_path / "samples.jsonl"
    replicas: set[int] = set()
    with LoopbackCluster(tmp_path) as cluster:
        env = dict(cluster.env, RAY_ADDRESS=cluster.address, RAY_REPLICAS="2", RAY_ENGINE="hf", LOG_LEVEL="INFO")
        argv = [sys.executable, "-m", "selfimprove", "sample", "--questions", str(questions), "--out", str(out)]
        argv += ["--actor-model", str(MODEL), "--actor-engine", "ray", "--n", "1", "--temperature", "0"]
        argv += ["--max-tokens", "24", "--chunk-size", "8"]
        stage_log = tmp_path / "stage.log"
        with open(stage_log, "w") as err:
            stage = subprocess.Popen(argv, env=env, cwd=ROOT, stderr=err)
        killed = None
        seen = 0.0  # when the stage began to generate
        try:
            deadline = time.time() + 480
            while stage.poll() is None and time.time() < deadline:
                text = stage_log.read_text(errors="replace")
                for m in re.finditer(r"ray: replica \d+ (?:ready|is back) on .*?\(pid (\d+)", text):
                    replicas.add(int(m.group(1)))
                if "sampling:" in text and not seen:
                    seen = time.time()
                busy = seen and time.time() - seen > 1 and not out.exists()  # both replicas on the first chunk
                if killed is None and len(replicas) == 2 and busy:
                    killed = max(replicas)
                    os.kill(killed, signal.SIGKILL)  # one replica's process dies mid-run
                time.sleep(0.2)
        finally:
            if stage.poll() is None:
                stage.kill()
            stage.wait(timeout=60)
            kill_pids(replicas)
        lines = stage_log.read_text(errors="replace").splitlines()
        log = "\n".join(lines)
        assert stage.returncode == 0, log[-3000:]
        assert killed is not None, f"the stage finished before a replica could be killed:\n{log[-3000:]}"
        assert re.search(r"replica \d+ \(pid \d+ on .*\) died", log), log[-3000:]
        ids = [json.loads(x)["id"] for x in out.read_text().splitlines()]
        assert sorted(ids) == sorted(f"{q['id']}/s0" for q in qs)  # every id exactly once
        recs = [json.loads(x) for x in out.read_text().splitlines()]
        assert not any(r.get("finish_reason") == "error" for r in recs)
    kill_pids(replicas)
