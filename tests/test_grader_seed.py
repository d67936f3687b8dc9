"""The ``mathcritique`` grader reproduces the released code's decisions (hand-worked cases)."""

from __future__ import annotations

import time

import pytest

from selfimprove.grading.api import grade
from selfimprove.grading.seed import (
    ArithmeticRefused,
    answer_process,
    extract_boxed_content,
    safe_arith_eval,
    seed_compare,
    seed_extract_gold,
    seed_extract_response,
)


@pytest.mark.parametrize(
    "raw,expected",
    [
        (None, None),
        ("\\dfrac{1}{2}", "\\frac{1}{2}"),
        ("\\frac12", "\\frac{1}{2}"),
        ("\\frac1{2}", "\\frac{1}{2}"),
        ("3/4", "\\frac{3}{4}"),
        ("1,\\!000", "1000"),
        ("10{,}000", "10000"),
        ("2 \\cdot 3", "23"),  # \cdot is simply deleted, as released
        ("90^\\circ", "90"),
        ("\\left( 1, 2 \\right)", "(1,2)"),
        (".5", "0.5"),
        ("(B)", "B"),
        ("5.", "5"),
        ("\\sqrt2", "\\sqrt{2}"),
        ("\\text{ cm}", ""),  # a \text starting with a space is dropped
        ("5\\text{ cm}", "5"),
        ("\\text{Evelyn}", "Evelyn"),
        ("x_1", "x_{1}"),
        ("3j", "3i"),
        ("50\\%", "50%"),
        ("\\$5", "5"),
        ("a \\pi b", "a\\pi b"),
    ],
)
def test_answer_process(raw, expected):
    assert answer_process(raw) == expected


def test_answer_process_raises_like_released_code():
    with pytest.raises(IndexError):
        answer_process("\\text{}")
    with pytest.raises(IndexError):
        answer_process("x_")


def test_extract_boxed_content():
    assert extract_boxed_content("a \\boxed{1} b \\boxed{\\frac{2}{3}} c") == "\\frac{2}{3}"
    assert extract_boxed_content("\\boxed{1") is None
    assert extract_boxed_content("none") is None


@pytest.mark.parametrize(
    "text,dtype,expected",
    [
        ("The answer is 18.", "gsm8k", "18"),
        ("The answer is $1,234.", "gsm8k", "1234"),
        # Only the first "The answer is" counts, then the first number after it.
        ("The answer is 3. Wait, the answer is 4.", "gsm8k", "3"),
        # Without the phrase: the first number of the whole response.
        ("She had 5 apples and ate 2, leaving 3.", "gsm8k", "5"),
        ("The answer is $\\boxed{\\dfrac{1}{2}}$.", "math", "\\frac{1}{2}"),
        ("The answer is \\boxed{1} or maybe \\boxed{2}", "math", "2"),
        ("The answer is x = 5.", "math", "x=5"),
        # An exception inside processing returns the (cut) response text.
        ("The answer is \\text{}", "math", " \\text{}"),
        ("The answer is ", "gsm8k", ""),
    ],
)
def test_seed_extract_response(text, dtype, expected):
    assert seed_extract_response(text, dtype) == expected


@pytest.mark.parametrize(
    "gold,dtype,expected",
    [
        ("work\n#### 1,234", "gsm8k", "1234"),
        ("#### -5", "gsm8k", "-5"),
        ("72", "gsm8k", "72"),  # bare gold, as if marked
        ("so $\\boxed{\\dfrac{3}{4}}$", "math", "\\frac{3}{4}"),
        ("\\dfrac{3}{4}", "math", "\\frac{3}{4}"),
        ("\\boxed{\\text{}}", "math", None),  # released code would crash here
    ],
)
def test_seed_extract_gold(gold, dtype, expected):
    assert seed_extract_gold(gold, dtype) == expected


@pytest.mark.parametrize(
    "response,gold,dtype,expected",
    [
        ("The answer is 18.", "#### 18", "gsm8k", True),
        ("The answer is 18.00", "#### 18", "gsm8k", True),  # eval: 18.00 == 18
        ("The answer is $18 per day", "#### 18", "gsm8k", True),
        ("The answer is 3. Wait, the answer is 4.", "#### 4", "gsm8k", False),
        ("The answer is \\boxed{0.5}", "\\boxed{\\frac{1}{2}}", "math", False),  # no symbolic step
        ("The answer is \\boxed{1/2}", "\\boxed{\\frac12}", "math", True),  # 1/2 -> \frac{1}{2}
        ("The answer is \\boxed{2+3}", "\\boxed{5}", "math", True),  # eval arithmetic
        ("The answer is \\boxed{0.1+0.2}", "\\boxed{0.3}", "math", False),  # float semantics kept
        ("The answer is \\boxed{2**10}", "\\boxed{1024}", "math", True),
        ("The answer is \\boxed{7//2}", "\\boxed{3}", "math", True),
        ("The answer is \\boxed{x=5}", "\\boxed{5}", "math", False),
        ("The answer is \\boxed{(B)}", "\\boxed{B}", "math", True),
        ("The answer is \\boxed{9**9**9**9}", "\\boxed{1}", "math", False),
    ],
)
def test_seed_decisions(response, gold, dtype, expected):
    g = grade(response, gold, dtype, grader="mathcritique")
    assert g.correct is expected and g.grader == "mathcritique"


@pytest.mark.parametrize(
    "expr",
    [
        "1+2*3",
        "7/2",
        "7//2",
        "2**10",
        "-3**2",
        "(1+2)*(3-4)/5",
        " 5",
        "1.5*2",
        "10/4*4",
        "2**-1",
        "0.1+0.2",
        "3.",
        ".5",
        "1 +\t2",
        "((2))",
        "-(-(3))",
        "2**0.5",
        "(-8)**(1/3)",
        "...",
    ],
)
def test_safe_arith_eval_matches_python(expr):
    expected = eval(compile(expr.lstrip(" \t"), "<test>", "eval"))  # trusted test literal
    assert safe_arith_eval(expr) == expected


@pytest.mark.parametrize(
    "expr,exc",
    [
        ("1/0", ZeroDivisionError),
        ("05", SyntaxError),
        ("1 2", SyntaxError),
        ("(1)(2)", TypeError),
        ("abs(1)", ValueError),
        ("10.0**400", OverflowError),
        ("", SyntaxError),
    ],
)
def test_safe_arith_eval_errors_like_python(expr, exc):
    with pytest.raises(exc):
        safe_arith_eval(expr)


HUGE = ["9**9**9**9", "2**99999999", "10**10**10", "(2**600000)*(2**600000)"]


@pytest.mark.parametrize("expr", HUGE)
def test_safe_arith_eval_refuses_huge(expr):
    with pytest.raises(ArithmeticRefused):  # refused before computing: Python's eval would hang
        safe_arith_eval(expr)


@pytest.mark.timing
@pytest.mark.parametrize("expr", HUGE)
def test_safe_arith_eval_refuses_huge_quickly(expr):
    t0 = time.monotonic()
    with pytest.raises(ArithmeticRefused):
        safe_arith_eval(expr)
    assert time.monotonic() - t0 < 0.5


def test_seed_compare_none():
    assert seed_compare(None, "1") is False
    assert seed_compare("1", None) is False
