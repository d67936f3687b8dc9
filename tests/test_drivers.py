"""The drivers refuse bad input with a clear message before any compute is spent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def drive(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHON": sys.executable, "RUNS_DIR": str(tmp_path), "EXP_NUM": "bad", **env}
    return subprocess.run(
        ["bash", str(ROOT / "selfimprove" / script)], env=full, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "script, env, message",
    [
        ("inference-all.sh", {"USE_CRITIC": "2"}, "USE_CRITIC must be 0 or 1"),
        ("inference-all.sh", {"model_type": "Chat"}, "model_type must be Instruct or Base"),
        ("inference-all.sh", {"dataset_name": "nosuch"}, "unknown dataset spec 'nosuch'"),
        ("inference-all.sh", {"model_name": "/nonexistent/model"}, "model /nonexistent/model not found"),
        ("inference-all.sh", {"FEEDBACK_FILE": "/nonexistent.json"}, "FEEDBACK_FILE /nonexistent.json not found"),
        ("evaluate-all.sh", {"TEST_KNOW_ANSWER": "yes"}, "TEST_KNOW_ANSWER must be 0 or 1"),
        ("evaluate-all.sh", {"test_dataset_name": "file:/nonexistent.jsonl"}, "nonexistent.jsonl"),
        ("evaluate-all.sh", {"EVAL_ITERS": "7"}, "iter_7/actor not found"),
    ],
)
def test_bad_input_stops_early(tmp_path, script, env, message):
    proc = drive(script, tmp_path, **env)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "bad" / "iter_0").exists()
