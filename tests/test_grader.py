"""Tests for answer extraction and grading (selfimprove.grading.api / selfimprove.grading)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from selfimprove.grading.api import (
    GRADERS,
    Grade,
    Vote,
    extract_gold,
    extract_pred,
    grade,
    grade_batch,
    is_equivalent,
    vote,
    warm_up,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "grader_labelled.jsonl"
LIMIT = 0.5
SLACK = 0.15  # scheduling noise on a loaded CI machine


@pytest.fixture(scope="module", autouse=True)
def _pool():
    warm_up(2)
    yield


# --------------------------------------------------------------------------- API


def test_api_surface():
    assert GRADERS == ("default", "mathcritique", "math-verify")
    g = grade("The answer is 5.", "5", "gsm8k")
    assert g == Grade(pred="5", correct=True, grader="default")
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.correct = False  # type: ignore[misc]


@pytest.mark.parametrize(
    "fn",
    [
        lambda: extract_gold("5", "aime"),
        lambda: extract_pred("5", "MATH"),
        lambda: is_equivalent("1", "1", "gsm"),
        lambda: grade("5", "5", "other"),
        lambda: vote(["1"], "x"),
    ],
)
def test_unknown_dataset_type_raises(fn):
    with pytest.raises(ValueError, match="dataset_type"):
        fn()


def test_unknown_grader_raises():
    with pytest.raises(ValueError, match="grader"):
        grade("5", "5", "math", grader="nope")


# --------------------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    "response,dtype,expected",
    [
        ("so $\\boxed{\\frac{1}{2}}$.", "math", "\\frac{1}{2}"),
        ("first \\boxed{1} then \\boxed{{2}+1}", "math", "{2}+1"),
        ("\\fbox{7} done", "math", "7"),
        ("\\boxed 5 is it", "math", "5"),
        ("The answer is 3. Actually the answer is 4.", "math", "4"),
        ("The final answer is $x^2$", "math", "x^2"),
        ("Answer: 12", "math", "12"),
        ("blah\n#### 1,234", "gsm8k", "1,234"),
        ("3 + 4 = 7 apples in all", "gsm8k", "7"),
        ("The answer is $18 per day.", "gsm8k", "18"),
        ("The answer is 5 * 4 = 20.", "gsm8k", "20"),
        ("no numbers here", "gsm8k", None),
        ("a long explanation without any marker at all\nthat spans lines", "math", None),
        ("", "math", None),
        ("unbalanced \\boxed{1", "math", None),
    ],
)
def test_extract_pred(response, dtype, expected):
    assert extract_pred(response, dtype) == expected


@pytest.mark.parametrize(
    "gold,dtype,expected",
    [
        ("Two packs: 2*3=<<2*3=6>>6\n#### 6", "gsm8k", "6"),
        ("42", "gsm8k", "42"),
        ("So the answer is $\\boxed{\\dfrac{3}{5}}$.", "math", "\\dfrac{3}{5}"),
        ("\\frac{3}{5}", "math", "\\frac{3}{5}"),
        ("", "math", None),
    ],
)
def test_extract_gold(gold, dtype, expected):
    assert extract_gold(gold, dtype) == expected


# --------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize(
    "a,b,expected",
    [
        ("1,000", "1000", True),
        ("1{,}000", "1000", True),
        ("1,\\!000", "1000", True),
        ("\\$5", "5", True),
        ("50\\%", "0.5", True),
        ("50\\%", "5", False),
        ("5\\text{ cm}", "5", True),
        ("30^\\circ", "30", True),
        ("3\\times10^{2}", "300", True),
        ("1.5e2", "150", True),
        (".5", "0.5", True),
        ("4\\frac{2}{3}", "\\frac{14}{3}", True),
        ("0.\\overline{3}", "\\frac{1}{3}", True),
        ("0.33", "\\frac{1}{3}", False),
        ("\\dfrac{3}{4}", "\\tfrac34", True),
        ("\\frac43", "\\frac{4}{3}", True),
        ("\\sqrt2", "\\sqrt{2}", True),
        ("\\sqrt(2)", "\\sqrt{2}", True),
        ("4\\sqrt(2)", "4", False),
        ("\\frac{1}{2004!}", "\\frac{1}{2006!}", False),
        ("x=5", "5", True),
        ("5", "y=6", False),
        ("x^2-1", "(x-1)(x+1)", True),
        ("2\\pm\\sqrt{5}", "2-\\sqrt5, 2+\\sqrt5", True),
        ("2\\pm\\sqrt{5}", "2+\\sqrt5", False),
        ("1, 2, 3", "3,2,1", True),
        ("\\{1,2\\}", "\\{2,1\\}", True),
        ("(1,2)", "(2,1)", False),
        ("[1,3)", "[1,3)", True),
        ("[1,3)", "[1,3]", False),
        ("(1,3]", "(1,3)", False),
        ("(-\\infty,0)\\cup(1,\\infty)", "(1,\\infty)\\cup(-\\infty,0)", True),
        ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{bmatrix}1\\\\2\\end{bmatrix}", True),
        ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}2\\\\1\\end{pmatrix}", False),
        ("\\text{Evelyn}", "evelyn", True),
        ("\\text{(C)}", "C", True),
        ("(C)", "(D)", False),
        (None, "1", False),
        ("", "", False),
    ],
)
def test_is_equivalent(a, b, expected):
    assert is_equivalent(a, b, "math") is expected


def test_equivalence_is_symmetric_on_samples():
    pairs = [("\\frac{1}{2}", "0.5"), ("x=5", "5"), ("(1,2]", "(1,2)"), ("2^{10}", "1024")]
    for a, b in pairs:
        assert is_equivalent(a, b, "math") == is_equivalent(b, a, "math")


# --------------------------------------------------------------------------- robustness


PATHOLOGICAL = [
    "9^{9^{9^9}}",
    "9**9**9**9",
    "\\frac{1}{100000!}",
    "(10^{10})!",
    "2^{2^{2^{2^{2^{2}}}}}",
    "{" * 5000 + "1" + "}" * 5000,
    "\\sqrt{" * 300 + "2" + "}" * 300,
    "x" * 100_000,
    "1" * 5000,
    "(" * 1000,
    "\\boxed{" * 1000,
    "\\frac{" * 400,
    "\\begin{pmatrix}" + "1&" * 3000,
    "\\left(" * 200,
    "$" * 1000,
    "\\text{" * 500,
    "0.\\overline{" + "9" * 3000 + "}",
    "1e999999999",
    "10^{-999999}",
    "\\binom{1000000}{500000}",
    "\\sum_{n=1}^{10^{9}} n",
    "x^{x^{x^{x}}}-x^{x^{x^{x}}}",
    "\\int_0^1 e^{x^2}dx",
]


@pytest.mark.timing
@pytest.mark.parametrize("text", PATHOLOGICAL)
def test_pathological_inputs_are_fast_and_safe(text):
    for gold in ("5", text):
        for dtype in ("math", "gsm8k"):
            t0 = time.monotonic()
            g = grade("The answer is $\\boxed{" + text + "}$", gold, dtype)
            assert time.monotonic() - t0 <= LIMIT + SLACK
            assert isinstance(g.correct, bool)
            t0 = time.monotonic()
            grade(text, gold, dtype, "mathcritique")
            assert time.monotonic() - t0 <= LIMIT + SLACK


@pytest.mark.timing
def test_huge_response():
    resp = ("The cost is 3 dollars. " * 4500) + "The answer is 42."
    assert len(resp) > 100_000
    t0 = time.monotonic()
    assert grade(resp, "42", "gsm8k").correct
    assert grade(resp, "\\boxed{42}", "math").correct
    assert time.monotonic() - t0 < 2 * LIMIT


@pytest.mark.timing
def test_expensive_symbolic_call_is_killed_within_bound():
    # Needs real sympy work (no cheap layer can decide it); must come back within the bound.
    a = "\\frac{" + "+".join(f"x^{{{k}}}" for k in range(1, 40)) + "}{(x+1)^{39}}"
    t0 = time.monotonic()
    is_equivalent(a, "\\frac{1}{x+3}", "math")
    assert time.monotonic() - t0 <= LIMIT + SLACK


@pytest.mark.timing
def test_time_bound_holds_from_threads():
    items = [("\\boxed{" + t + "}", "\\frac{1}{2}+x^2") for t in PATHOLOGICAL[:8]] * 2
    items += [("\\boxed{(x+1)^2}", "x^2+2x+1")] * 4

    def one(pair):
        t0 = time.monotonic()
        g = grade(pair[0], pair[1], "math")
        return time.monotonic() - t0, g

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(one, items))
    assert max(t for t, _ in results) <= LIMIT + 2 * SLACK
    assert all(g.correct for _, g in results[-4:])


@pytest.mark.parametrize("grader", ["default", "mathcritique"])
def test_grade_never_raises(grader):
    weird = [
        "",
        " ",
        "\\",
        "}",
        "{",
        "$$",
        "\\boxed{}",
        "The answer is",
        "####",
        "\x00",
        "\\text{}",
        "x_",
        "(",
        "\\frac",
        "\\sqrt",
        "^",
        "!!!!",
        "\u2212\u00bd",
        "nan",
        "inf",
    ]
    for r in weird:
        for g in weird + ["5"]:
            for d in ("math", "gsm8k"):
                out = grade(r, g, d, grader)
                assert out.grader == grader and isinstance(out.correct, bool)


def test_model_text_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    for grader in ("default", "mathcritique"):
        grade("The answer is " + payload, payload, "math", grader)
        grade("\\boxed{" + payload + "}", "1", "math", grader)
    assert not marker.exists()


# --------------------------------------------------------------------------- batch and vote


def test_grade_batch_keeps_order():
    items = [(f"The answer is {i}.", str(i if i % 3 else i + 1), "gsm8k") for i in range(200)]
    out = grade_batch(items, workers=2)
    assert [g.correct for g in out] == [bool(i % 3) for i in range(200)]
    assert grade_batch(items[:5], grader="mathcritique", workers=1)[0].grader == "mathcritique"


def test_vote_groups_by_equivalence():
    v = vote(["0.5", None, "\\frac{1}{2}", "2", "1/2", "2.0", None], "math")
    assert v == Vote(answer="0.5", size=3, classes=[[0, 2, 4], [3, 5]])
    assert vote([None, None], "gsm8k") == Vote(None, 0, [])
    tie = vote(["3", "4", "4.0", "3"], "gsm8k")
    assert tie.answer == "3" and tie.size == 2 and tie.classes == [[0, 3], [1, 2]]


# --------------------------------------------------------------------------- labelled set


def _labelled():
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def test_labelled_fixture_shape():
    rows = _labelled()
    assert len(rows) >= 300
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert set(r) == {"id", "dataset_type", "gold", "response", "label", "category"}
        assert r["dataset_type"] in ("gsm8k", "math") and isinstance(r["label"], bool)
    assert len({r["category"] for r in rows}) >= 20


def test_default_grader_accuracy_on_labelled_set():
    rows = _labelled()
    out = grade_batch([(r["response"], r["gold"], r["dataset_type"]) for r in rows], workers=2)
    wrong = [(r["id"], r["category"]) for r, g in zip(rows, out) if g.correct != r["label"]]
    assert len(wrong) / len(rows) <= 0.02, wrong
    # The known false positives of other graders stay rejected.
    for r, g in zip(rows, out):
        if r["category"] in ("factorial", "radical") and not r["label"]:
            assert not g.correct, r["id"]


# --------------------------------------------------------------------------- CLI


def _run_cli(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "selfimprove", "process", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_grades_and_reports_skips(tmp_path):
    inp = tmp_path / "in.jsonl"
    out = tmp_path / "out.jsonl"
    lines = [
        json.dumps({"id": "1", "dataset_type": "gsm8k", "gold": "#### 18", "response": "The answer is $18."}),
        "{not json",
        json.dumps({"id": "2", "dataset_type": "math", "gold": "\\frac12"}),
        "",
        json.dumps({"id": "3", "dataset_type": "math", "gold": "\\boxed{x=2}", "response": "\\boxed{3}", "extra": 1}),
    ]
    inp.write_text("\n".join(lines) + "\n")
    res = _run_cli("grade", "--input", str(inp), "--output", str(out), "--workers", "1")
    assert res.returncode == 1, res.stderr
    assert ":2:" in res.stderr and ":3:" in res.stderr
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert [g["id"] for g in got] == ["1", "3"]
    assert got[0]["pred"] is not None and got[0]["correct"] is True and got[0]["grader"] == "default"
    assert got[1]["correct"] is False and got[1]["extra"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".grade-")]

    clean = tmp_path / "clean.jsonl"
    clean.write_text(lines[0] + "\n")
    res = _run_cli("grade", "--input", str(clean), "--output", str(out), "--grader", "mathcritique")
    assert res.returncode == 0, res.stderr
    assert json.loads(out.read_text())["grader"] == "mathcritique"


def test_cli_reports_and_skips_bad_and_repeated_ids(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    row = {"dataset_type": "gsm8k", "gold": "#### 18", "response": "The answer is 18."}
    ids: list[object] = ["a", None, {"a": 1}, 7, "", "  ", "b", "a", "b"]
    inp.write_text("".join(json.dumps({"id": i, **row}) + "\n" for i in ids))
    res = _run_cli("grade", "--input", str(inp), "--output", str(out), "--workers", "1")
    assert res.returncode == 1, res.stderr
    assert f"{inp}:2: skipped: id must be a string, got null" in res.stderr
    assert f"{inp}:3: skipped: id must be a string, got dict" in res.stderr
    assert f"{inp}:4: skipped: id must be a string, got int" in res.stderr
    assert f"{inp}:5: skipped: id is empty" in res.stderr and f"{inp}:6: skipped: id is empty" in res.stderr
    assert f"{inp}:8: skipped: id 'a' already used at line 1" in res.stderr
    assert f"{inp}:9: skipped: id 'b' already used at line 7" in res.stderr
    assert "skipped 7 line(s)" in res.stderr and "Traceback" not in res.stderr
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert [g["id"] for g in got] == ["a", "b"] and all(g["correct"] for g in got)


def test_cli_usage_errors(tmp_path):
    assert (
        _run_cli("grade", "--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o")).returncode == 2
    )
    assert _run_cli("grade", "--output", "x").returncode == 2
    assert _run_cli("grade", "--input", "a", "--output", "b", "--grader", "bogus").returncode == 2
    assert _run_cli().returncode == 2


# --------------------------------------------------------------------------- shared reference data


def _shared(require_data, name):
    """The real test split of a dataset from DATA_DIR (skipped, naming DATA_DIR, when absent)."""
    path = require_data(f"{name}/test.jsonl") / name / "test.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_gsm8k_gold_vs_gold(require_data):
    rows = _shared(require_data, "gsm8k")
    assert len(rows) == 1319
    items = []
    for r in rows:
        bare = extract_gold(r["answer"], "gsm8k")
        items += [(r["answer"], r["answer"], "gsm8k"), (r["answer"], bare, "gsm8k")]
    out = grade_batch(items, workers=2)
    bad = [i for i, g in zip(items, out) if not g.correct]
    assert not bad, bad[:5]


def test_math500_gold_vs_gold(require_data):
    rows = _shared(require_data, "math500")
    assert len(rows) == 500
    items = []
    for r in rows:
        items += [(r["solution"], r["solution"], "math"), (r["solution"], r["answer"], "math")]
    out = grade_batch(items, workers=2)
    bad = [i[1][-60:] for i, g in zip(items, out) if not g.correct]
    assert not bad, bad[:5]


# --------------------------------------------------------------------------- implicit products, final spans, units, inequalities, mixed numbers


@pytest.mark.parametrize(
    "a,b,expected",
    [
        # Implicit multiplication before a parenthesis; probes near a root (x ~ sqrt 2) must not
        # lose precision to cancellation.
        ("3x(x^2-2)", "3x^3-6x", True),
        ("3x(x^2+2)", "3x^3-6x", False),
        ("2x(x^2+2)", "2x^3-4x", False),
        ("x(x-3)", "x^2-3x", True),
        ("x(x-3)", "x^2+3x", False),
        ("(x+2)(x-2)", "x^2-4", True),
        ("(x+2)(x-3)", "x^2-x-6", True),
        ("(x+2)(x-3)", "x^2-6", False),
        ("a(a+1)(a+2)", "a^3+3a^2+2a", True),
        ("4(y-1)^2", "4y^2-8y+4", True),
        ("f(x)", "f(x)", True),
        ("\\cos(t)", "\\cos t", True),
        ("(2,5)", "(5,2)", False),
        ("(2,5)", "(2,5)", True),
    ],
)
def test_implicit_multiplication(a, b, expected):
    assert is_equivalent(a, b, "math") is expected


@pytest.mark.parametrize(
    "response,expected",
    [
        (
            "There are 8 outcomes in all and 3 of them work, so the chance is $\\frac{6}{16} = \\frac{3}{8}$.",
            "\\frac{3}{8}",
        ),
        ("Adding the pieces,\n\\[ A = 4 + 5 = 9 \\]\nand that is the area we wanted.", "9"),
        ("Putting it together we find that the sum equals \\(2^{10} = 1024\\).", "1024"),
        ("The area works out as $\\pi r^2 = 16\\pi \\approx 50.27$.", "16\\pi"),
        ("Therefore the values satisfy $x \\leq 3$ as claimed.", "x \\leq 3"),
        # Explicit markers still win over the span fallback.
        ("We get $y = 7$ along the way.\nThe answer is $8$.", "8"),
        ("We get $y = 7$ and so $\\boxed{6}$ is left, as $z = 2$.", "6"),
        # An empty box is no answer, and a span far from the end is not used.
        ("We compute the discriminant and then we get $\\boxed{}$.", None),
        ("First note $a = 3$. " + "Then we keep reasoning about the other cases in words. " * 10, None),
    ],
)
def test_math_final_span_fallback(response, expected):
    assert extract_pred(response, "math") == expected


def test_math_final_span_fallback_grades():
    resp = "Of the 36 rolls, 10 give a sum above 8, so the probability is $\\frac{10}{36} = \\frac{5}{18}$."
    assert grade(resp, "\\frac{5}{18}", "math").correct
    assert not grade(resp, "\\frac{5}{12}", "math").correct
    assert extract_pred("$" * 60000, "math") is None


@pytest.mark.timing
def test_math_final_span_fallback_is_fast():
    t0 = time.perf_counter()
    extract_pred("\\(" * 50000 + " $x$", "math")
    assert time.perf_counter() - t0 < 0.2


@pytest.mark.parametrize(
    "a,b,expected",
    [
        ("8\\pi \\text{ square units}", "8\\pi", True),
        ("8\\pi \\text{ square units}", "9\\pi", False),
        ("3\\sqrt{2}\\mbox{ cm}", "3\\sqrt{2}", True),
        ("\\frac{\\pi}{4} \\text{ radians}", "\\frac{\\pi}{4}", True),
        ("12\\pi\\text{ cm}^2", "12\\pi", True),
        ("5\\sqrt{3} square units", "5\\sqrt3", True),
        ("x^2+2 \\text{ units}", "x^2+2", True),
        ("\\text{Tuesday}", "Tuesday", True),
        ("\\text{Tuesday}", "Monday", False),
        ("\\text{(B)}", "B", True),
        ("\\text{(B)}", "(C)", False),
        ("n \\text{ is even}", "n", False),
    ],
)
def test_trailing_unit_words(a, b, expected):
    assert is_equivalent(a, b, "math") is expected


@pytest.mark.parametrize(
    "a,b,expected",
    [
        ("7 > y", "y<7", True),
        ("7 \\geq y", "y \\le 7", True),
        ("7 > y", "y \\leq 7", False),
        ("-2 < x < 6", "(-2, 6)", True),
        ("-2 < x \\le 6", "(-2, 6]", True),
        ("-2 < x \\le 6", "(-2, 6)", False),
        ("6 > x > -2", "-2<x<6", True),
        ("x > 4", "(4,\\infty)", True),
        ("x \\geq 4", "[4,\\infty)", True),
        ("x \\ge 3", "(3,\\infty)", False),
        ("x>5", "(5,\\infty]", False),
        ("x > 4", "(5,\\infty)", False),
        ("x \\le 1", "(-\\infty, 1]", True),
        ("x \\leq 1", "(-\\infty,1)", False),
        ("x < \\frac{1}{2}", "(-\\infty, 0.5)", True),
        ("t \\geq \\pi", "[\\pi,\\infty)", True),
        ("x<5", "y<5", False),
        ("x<5", "5", False),
        ("x<y", "y>x", False),
    ],
)
def test_inequalities_as_intervals(a, b, expected):
    assert is_equivalent(a, b, "math") is expected


@pytest.mark.parametrize(
    "response,gold,expected",
    [
        ("Two bags hold 1 1/2 kg each, so 3 kg... no wait, 2 3/4 kg.\nThe answer is 2 3/4.", "2.75", True),
        ("The answer is 3 1/4.", "3.2", False),
        ("The answer is 3 1/4.", "31/4", False),
        ("The answer is 5 1/2 cups.", "5.5", True),
        ("So the rope is 7 1/3 feet long.", "\\frac{22}{3}", True),
        ("The answer is 1 234.", "1234", True),
        ("The answer is 12 345.", "12345", True),
    ],
)
def test_gsm8k_plain_mixed_numbers(response, gold, expected):
    assert grade(response, gold, "gsm8k").correct is expected
