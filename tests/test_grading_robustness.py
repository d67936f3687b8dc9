"""Statuses, budgets, megabyte inputs and poison lines: nothing is silently scored wrong.

The timing checks are marked ``timing`` (CI deselects them); every other test here asserts
outcomes only, so it is stable on a busy machine.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from selfimprove.grading import equiv, grader
from selfimprove.grading.api import Grade, format_counts, grade, grade_batch, summarize, warm_up
from selfimprove.grading.extract import MAX_RESPONSE_CHARS
from selfimprove.grading.timeout import SymbolicPool

ROOT = Path(__file__).resolve().parents[1]
MB = 1_000_000

# Each shape once made a scan quadratic somewhere: runs of "$", of "{", of nested "\boxed{", of
# digits, of "$1$" spans, plus a few relatives.
SHAPES = {
    "dollar_run": "$" * (2 * MB),
    "brace_run": "{" * (2 * MB),
    "nested_boxed": "\\boxed{" * (2 * MB // 7),
    "digit_run": "7" * (2 * MB),
    "one_spans": "$1$ " * (2 * MB // 4),
    "spaced_digits": "1 " * MB,
    "answer_then_spaces": "The answer" + " " * (2 * MB),
    "closed_boxes": "\\boxed{1} and " * (2 * MB // 14),
    "backslash_run": "\\" * (2 * MB),
    "frac_run": "\\frac{" * (2 * MB // 6),
}


@pytest.fixture(scope="module", autouse=True)
def _pool():
    warm_up(1)


# --------------------------------------------------------------------------- statuses


def test_grade_carries_a_status_and_old_fields_still_work():
    g = grade("The answer is 5.", "5", "gsm8k")
    assert g == Grade(pred="5", correct=True, grader="default")
    assert g.status == "ok" and g.ok and not g.truncated
    assert g.record_fields() == {"pred": "5", "correct": True, "grader": "default", "grade_status": "ok"}


def test_an_exception_is_an_error_status_not_a_wrong_answer(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("bug")

    monkeypatch.setattr(grader, "_compare", boom)
    g = grade("The answer is $\\boxed{x+1}$.", "x+1+0", "math")
    assert g.correct is False and g.status == "error:RuntimeError"
    batch = grade_batch([("The answer is 5.", "5", "gsm8k")] * 3, workers=1)
    assert batch.counts["error"] == 3 and batch.counts["error:RuntimeError"] == 3 and batch.counts["ok"] == 0


def test_running_out_of_symbolic_budget_is_a_timeout(monkeypatch):
    # An equivalence only sympy can decide (a sum), with no CPU budget left for it.
    monkeypatch.setattr(equiv, "SYMBOLIC_CPU_BUDGET", 0.0)
    equiv.clear_cache()
    g = grade("The answer is $\\boxed{\\sum_{k=1}^{n} k}$.", "\\frac{n(n+1)}{2}", "math")
    assert g.status == "timeout" and g.correct is False
    counts = summarize([g, grade("The answer is 5.", "5", "gsm8k")])
    assert counts["timeout"] == 1 and counts["ok"] == 1 and counts["correct"] == 1
    assert "1 timeout" in format_counts(counts)


def test_a_true_equivalence_found_before_the_budget_ran_out_is_ok(monkeypatch):
    monkeypatch.setattr(equiv, "SYMBOLIC_CPU_BUDGET", 0.0)
    g = grade("The answer is $\\boxed{\\frac{1}{2}, x^2-1}$.", "(x-1)(x+1), 0.5", "math")
    assert g.status == "ok" and g.correct


def test_the_step_budget_is_a_count():
    a = ", ".join(f"\\frac{{{2 * k}x}}{{2}}+\\sqrt{{{k}}}" for k in range(64))
    b = ", ".join(f"{k}x+\\sqrt{{{k}}}" for k in reversed(range(64)))
    assert equiv.compare(a, b) == equiv.Verdict(False, "timeout")
    assert equiv.compare(a, b) == equiv.Verdict(False, "timeout")  # the same every time
    small_a = ", ".join(f"\\frac{{{2 * k}x}}{{2}}" for k in range(12))
    small_b = ", ".join(f"{k}x" for k in reversed(range(12)))
    assert equiv.compare(small_a, small_b) == equiv.Verdict(True, "ok")


# --------------------------------------------------------------------------- the worker pool


def test_worker_budget_is_cpu_time_and_overrun_is_timeout():
    pool = SymbolicPool(1)
    try:
        pool.start()
        slow = pool.call("\\sum_{k=1}^{n} k^{9}", "\\frac{n^{2}(n+1)^{2}(n^2+n-1)(2n^4+4n^3-n^2-3n+3)}{20}", 0.02)
        assert slow.equal is None and slow.status == "timeout"
        quick = pool.call("(x+1)^2", "x^2+2x+1", 5.0)
        assert quick.equal is True and quick.status == "ok" and quick.cpu > 0
    finally:
        pool.close()


def test_a_dead_worker_is_replaced_and_the_call_retried():
    pool = SymbolicPool(2)
    try:
        pool.start()
        victim = pool._idle.get()
        victim.proc.kill()
        victim.proc.wait()
        pool._idle.put(victim)  # the dead one is handed out first
        results = [pool.call("(x+1)^2", "x^2+2x+1", 5.0) for _ in range(3)]
        assert all(r.status == "ok" and r.equal for r in results)
        assert pool.deaths >= 1
    finally:
        pool.close()


# --------------------------------------------------------------------------- megabyte inputs


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_megabyte_inputs_are_graded_with_a_status(shape):
    text = SHAPES[shape]
    for name in ("default", "mathcritique"):
        for dtype in ("math", "gsm8k"):
            g = grade(text, "5", dtype, name)
            assert g.status == "ok" and g.correct is False and g.truncated
            g = grade("Thus $\\boxed{5}$", text, dtype, name)
            assert isinstance(g.correct, bool) and g.status in ("ok", "timeout")


def test_the_answer_at_the_end_of_a_huge_response_is_found():
    response = "Let me think about it once more. " * 40_000 + "The answer is $\\boxed{42}$."
    assert len(response) > MAX_RESPONSE_CHARS
    g = grade(response, "42", "math")
    assert g.correct and g.truncated


@pytest.mark.timing
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_megabyte_inputs_stay_within_the_item_bound(shape):
    text = SHAPES[shape]
    for dtype in ("math", "gsm8k"):
        for response, gold in ((text, "5"), ("Thus $\\boxed{5}$", text), (text, text)):
            t0 = time.perf_counter()
            grade(response, gold, dtype)
            assert time.perf_counter() - t0 <= equiv.ITEM_TIME_LIMIT + 0.15, (shape, dtype)


# --------------------------------------------------------------------------- CLI poison lines


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "selfimprove", "process", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_cli_isolates_poison_lines(tmp_path):
    good = {"id": "a", "dataset_type": "gsm8k", "gold": "18", "response": "The answer is 18."}
    deep = '{"id": "deep", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    lines = [
        json.dumps(good).encode(),
        deep.encode(),
        b'{"id": "lone", "dataset_type": "math", "gold": "1", "response": "\\ud800 so 1"}',
        json.dumps({"id": "bytes", "dataset_type": "math", "gold": "7", "response": "We pay XX twice.\nAnswer: 7"})
        .encode()
        .replace(b"XX", b"\xff\xfe"),
        json.dumps({"id": "b", "dataset_type": "math", "gold": "\\frac12", "response": "\\boxed{0.5}"}).encode(),
    ]
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_bytes(b"\n".join(lines) + b"\n")
    res = _cli("grade", "--input", str(inp), "--output", str(out), "--workers", "1")
    assert res.returncode == 1, res.stderr
    err = res.stderr
    assert f"{inp}:2: skipped: JSON nested too deep" in err
    assert f"{inp}:3: skipped: text cannot be written as UTF-8" in err
    assert f"{inp}:4: invalid UTF-8 at byte" in err
    got = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [g["id"] for g in got] == ["a", "bytes", "b"]
    assert all(g["grade_status"] == "ok" for g in got)
    assert [g["correct"] for g in got] == [True, True, True]
    assert "\ufffd" in got[1]["response"]
    assert "3 graded: 3 correct; 0 timeout; 0 error" in err and "skipped 2 line(s)" in err


def test_cli_skips_an_oversized_line(tmp_path, monkeypatch):
    from selfimprove.stages import process as cli

    inp = tmp_path / "in.jsonl"
    small = json.dumps({"id": "s", "dataset_type": "gsm8k", "gold": "1", "response": "1"})
    big = json.dumps({"id": "big", "dataset_type": "gsm8k", "gold": "1", "response": "x" * 5000})
    inp.write_text("\n".join([small, big, small.replace('"s"', '"t"')]) + "\n")
    err = tmp_path / "err.txt"
    with err.open("w") as fh:
        records, skipped = cli.read_items(str(inp), fh, max_line_bytes=1000)
    assert [r["id"] for r in records] == ["s", "t"] and skipped == 1
    assert f"{inp}:2: skipped: line longer than 1000 bytes" in err.read_text()


# --------------------------------------------------------------------------- structure of the package


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                found.add(node.module or "")
            elif node.module and node.module.startswith("selfimprove.grading."):
                found.add(node.module.split(".")[2])
    return found


def test_grading_modules_have_no_import_cycle_and_stay_small():
    pkg = ROOT / "selfimprove" / "grading"
    graph = {p.stem: {m for m in _imports(p) if (pkg / f"{m}.py").exists()} for p in pkg.glob("*.py")}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join(path + [nxt])
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for mod in graph:
        if mod not in state:
            visit(mod, [mod])
    assert "normalize" not in graph["extract"] and "extract" not in graph["normalize"]
    for p in pkg.glob("*.py"):
        n = len(p.read_text(encoding="utf-8").splitlines())
        assert n <= 400 or "400 lines" in p.read_text(encoding="utf-8")[:2000], (p.name, n)
