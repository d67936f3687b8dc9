"""The answer conventions of docs/grading.md, one labelled case set per convention.

``tests/fixtures/grader_conventions.jsonl`` holds hand-written responses (written for these
tests, not taken from any peer's suite) with the verdict each should get. Every row must be
graded to its label with status ``ok``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfimprove.grading.api import compare, extract_gold, extract_pred, grade, is_equivalent, warm_up

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "grader_conventions.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]

CONVENTIONS = {
    "closing_sentence",
    "final_answer_after_box",
    "several_boxes",
    "named_answer",
    "ratio",
    "eq_chain",
    "inequality",
    "list_separators",
    "escaping",
    "matrix",
    "time",
    "thousands_space",
    "glued_number",
    "numeric_tolerance",
    "complex",
    "power_product",
    "fractional_exponent",
    "trig_degrees",
    "nested_radical",
}


@pytest.fixture(scope="module", autouse=True)
def _pool():
    warm_up(1)


def test_fixture_covers_every_convention_both_ways():
    assert len({r["id"] for r in ROWS}) == len(ROWS)
    for cat in CONVENTIONS:
        labels = {r["label"] for r in ROWS if r["category"] == cat}
        assert labels == {True, False}, cat


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] + "-" + r["category"] for r in ROWS])
def test_convention_case(row):
    g = grade(row["response"], row["gold"], row["dataset_type"])
    assert g.status == "ok"
    assert g.correct is row["label"], (row["gold"], g.pred)


# --------------------------------------------------------------------------- extraction details


@pytest.mark.parametrize(
    "response,dtype,expected",
    [
        ("Checking all cases.\nFinal Answer: The smallest $k$ is 12.", "math", "12"),
        ("The two piles together make 17 + 24 = 41, so the total is 41", "math", "41"),
        ("So far $\\boxed{5}$.\nThe final answer is 7.", "math", "7"),
        ("Since $\\boxed{44}$ works, our answer is correct.", "math", "44"),
        ("$x=\\boxed{3}$ or $x=\\boxed{-4}$", "math", "3, -4"),
        ("First \\boxed{2}.\n\nLater, after more work, \\boxed{5}", "math", "5"),
        ("$\\boxed{1}$ and $\\boxed{1}$", "math", "1"),
        ("We buy 5 lamps. The shelf label reads QX7B3", "gsm8k", "5"),
        ("Not enough information is given, so we cannot determine it.", "gsm8k", None),
    ],
)
def test_extraction_conventions(response, dtype, expected):
    assert extract_pred(response, dtype) == expected


def test_gold_with_one_box_per_solution():
    gold = "Factoring, $(x-3)(x+4)=0$, so $x=\\boxed{3}$ or $x=\\boxed{-4}$."
    assert extract_gold(gold, "math") == "3, -4"
    assert is_equivalent(extract_gold(gold, "math"), "-4, 3", "math")


# --------------------------------------------------------------------------- equivalence details


@pytest.mark.parametrize(
    "a,b,expected",
    [
        # a:b is not a/b: sympy alone reads both as division by zero and calls them equal
        ("12:00", "1:00", False),
        ("18:30", "6:30 pm", True),
        ("18:05:30", "18:05", False),
        ("0:1", "0:2", True),
        ("0:0", "0:0", True),
        ("\\frac{10}{2}=5", "5", True),
        ("y=2x+3", "y-3=2x", True),
        ("y=2x+3", "y=2x+4", False),
        ("x^2+y^2=1", "2x^2+2y^2=2", True),
        ("\\\\dfrac{\\\\sqrt{3}}{2}", "\\frac{\\sqrt3}{2}", True),
        ("sqrt(3)", "\\sqrt{3}", True),
        ("2pi", "2\\pi", True),
        ("\\log_2 8", "3", True),
        ("e^{i\\pi}", "-1", True),
        ("|x|", "x", False),
        ("m\\angle A = 30^\\circ", "30", True),
        ("x = 5", "y = 5", False),
        ("\\begin{vmatrix}1&2\\\\3&4\\end{vmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", True),
    ],
)
def test_equivalence_conventions(a, b, expected):
    v = compare(a, b)
    assert v.status == "ok" and v.equal is expected


def test_tolerance_is_a_knob():
    response = "The answer is $\\boxed{0.3333}$."
    assert not grade(response, "\\frac13", "math").correct
    assert grade(response, "\\frac13", "math", rel_tol=1e-4).correct
    # Two decimals, or a decimal against a terminating value, are compared exactly anyway.
    assert not grade("The answer is $\\boxed{0.13}$.", "\\frac18", "math", rel_tol=0.1).correct
    assert not grade("The answer is $\\boxed{14.83}$.", "14.8", "math", rel_tol=0.1).correct
