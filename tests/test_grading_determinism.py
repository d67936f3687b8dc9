"""The same file graded twice, the second time with both cores busy, gets identical verdicts.

The batch CLI grades the labelled convention cases, the held-out set, the peers' labelled cases
(tests/data/peer_grading_cases.jsonl) and a set of answers only sympy can decide (plus two that
truly run out of their CPU budget), once on the machine as it
is and once while two background processes spin on the CPU (started and stopped by the test).
Each run starts its own symbolic workers, so the second run pays their start-up under load too.
The test compares verdicts and statuses, never times, so it is safe on a busy CI machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
PEER_CASES = ROOT / "tests" / "data" / "peer_grading_cases.jsonl"

# Answers the in-process layers cannot decide: each needs a (cheap) sympy call.
SYMPY_ONLY = [
    ("\\lfloor 3.7 \\rfloor", "3", True),
    ("\\lceil \\frac{7}{2} \\rceil", "4", True),
    ("\\lceil \\frac{7}{2} \\rceil", "3", False),
    ("\\sum_{k=1}^{10} k", "55", True),
    ("\\sum_{k=1}^{10} k", "56", False),
    ("\\sum_{k=1}^{n} k", "\\frac{n(n+1)}{2}", True),
    ("\\frac{d}{dx} x^2", "2x", True),
    ("\\lim_{x\\to 0} \\frac{\\sin x}{x}", "1", True),
    ("\\gcd(12, 18)", "6", True),
    ("\\gcd(12, 18)", "3", False),
]
# Integrals sympy cannot finish within the budget: a timeout, in both runs.
TOO_SLOW = [
    ("\\int_0^1 \\frac{\\ln(1+x)}{1+x^2} dx", "\\frac{\\pi \\ln 2}{8}"),
    ("\\int_0^1 \\frac{\\arctan x}{x} dx", "0.9159655941772190"),
]


def _rows() -> list[dict]:
    rows = []
    for name in ("grader_conventions.jsonl", "grader_heldout.jsonl"):
        for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                rows.append({k: r[k] for k in ("id", "dataset_type", "gold", "response")})
    for line in PEER_CASES.read_text(encoding="utf-8").splitlines():
        r = json.loads(line) if line.strip() else None
        if r and isinstance(r["gold"], str):
            rows.append({k: r[k] for k in ("id", "dataset_type", "gold", "response")})
    for i, (pred, gold, _) in enumerate(SYMPY_ONLY):
        rows.append({"id": f"sym-{i}", "dataset_type": "math", "gold": gold, "response": f"So $\\boxed{{{pred}}}$."})
    for i, (pred, gold) in enumerate(TOO_SLOW):
        rows.append({"id": f"slow-{i}", "dataset_type": "math", "gold": gold, "response": f"So $\\boxed{{{pred}}}$."})
    return rows


def _grade_file(inp: Path, out: Path) -> dict[str, tuple]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run(
        [sys.executable, "-m", "selfimprove", "process", "grade", "--input", str(inp), "--output", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    got = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    return {r["id"]: (r["pred"], r["correct"], r["grade_status"]) for r in got}


def _start_hogs(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait(timeout=30)


def test_same_verdicts_with_both_cores_busy(tmp_path):
    rows = _rows()
    inp = tmp_path / "items.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    quiet = _grade_file(inp, tmp_path / "quiet.jsonl")
    hogs = _start_hogs(2)
    try:
        busy = _grade_file(inp, tmp_path / "busy.jsonl")
    finally:
        _stop(hogs)
    assert len(quiet) == len(rows)
    differ = {k: (quiet[k], busy.get(k)) for k in quiet if quiet[k] != busy.get(k)}
    assert not differ, differ
    # Every item but the two integrals was decided.
    assert {k for k, v in quiet.items() if v[2] != "ok"} == {f"slow-{i}" for i in range(len(TOO_SLOW))}
    # The sympy-only answers were decided (not timed out), and correctly.
    for i, (_, _, label) in enumerate(SYMPY_ONLY):
        pred, correct, status = quiet[f"sym-{i}"]
        assert status == "ok" and correct is label, (SYMPY_ONLY[i], quiet[f"sym-{i}"])
    # The integrals sympy cannot finish are reported as timeouts, not as wrong answers.
    for i in range(len(TOO_SLOW)):
        assert quiet[f"slow-{i}"][1:] == (False, "timeout")
