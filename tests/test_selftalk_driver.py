"""selftalk-all.sh stops on bad knobs before any compute, with a one-line message and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"JUDGE": "oracle"}, "JUDGE='oracle' (environment): must be one of programmatic, model"),
        ({"SMOOTHER": "fancy"}, "SMOOTHER='fancy' (environment): must be one of template, llm"),
        ({"model_type": "Chat"}, "model_type='Chat' (environment): must be one of Instruct, Base"),
        ({"MAX_ROUNDS": "-1"}, "MAX_ROUNDS=-1 (environment): must be >= 0"),
        ({"FORCE_ANSWER": "yes"}, "FORCE_ANSWER='yes' (environment): expected 0 or 1"),
        ({"sample_num": "0"}, "sample_num=0 (environment): must be >= 1"),
        ({"model_name": "/nonexistent/model"}, "model /nonexistent/model not found"),
        ({"SFT_MODEL": "/nonexistent/sft"}, "SFT_MODEL: model /nonexistent/sft not found"),
    ],
)
def test_bad_knobs_stop_early(tmp_path, knobs, message):
    env = {**os.environ, "PYTHON": sys.executable, "RUNS_DIR": str(tmp_path), **knobs}
    if "model_name" not in knobs:
        env["model_name"] = str(tmp_path)  # a folder: only checked for config.json when it looks local
        (tmp_path / "config.json").write_text("{}")
    proc = subprocess.run(
        ["bash", str(ROOT / "selfimprove" / "selftalk-all.sh")], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not any(tmp_path.glob("selftalk-demo"))  # nothing was started
