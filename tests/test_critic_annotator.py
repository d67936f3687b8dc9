"""The programmatic arithmetic annotator, pinned exactly: safe arithmetic, equation finding, the first
wrong step of hand-written solutions, and the critique text it writes."""

from __future__ import annotations

from fractions import Fraction

import pytest

from selfimprove.critic.arith import agrees, evaluate, find_equations, numbers_in
from selfimprove.critic.programmatic import (
    TrueStep,
    annotate_record,
    check_solution,
    solution_steps,
    step_sentence,
    true_steps,
)
from selfimprove.generation.prompts import SOLUTION_PREFIX, parse_critique

# ------------------------------------------------------------------------------------------ arithmetic


@pytest.mark.parametrize(
    "text, value",
    [
        ("3*12", Fraction(36)),
        ("3 x 12", Fraction(36)),
        ("3 × 12 ÷ 4", Fraction(9)),
        ("(7 + 5) * 2 - 4", Fraction(20)),
        ("$1,250.50 + $9.50", Fraction(1260)),
        ("40% * 80", Fraction(32)),
        ("-3 + 10", Fraction(7)),
        ("10 / 4", Fraction(5, 2)),
        (".5 * 8", Fraction(4)),
        ("2 − 7", Fraction(-5)),  # a typographic minus
    ],
)
def test_evaluate_exact(text, value):
    assert evaluate(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "(1 + 2",
        "1 + 2)",
        "((((((3)",
        "4 / 0",
        "2 ** 3",
        "2 ^ 10",
        "9" * 10_000 + " * 2",  # a 10,000-digit number
        "1" * 31,  # one digit over the limit
        "+".join(["9" * 29] * 40),  # too many tokens
        "(" * 500 + "1" + ")" * 500,
        "3 apples + 4",
        "__import__('os').system('true')",
        None,
    ],
)
def test_evaluate_rejects_malformed_and_adversarial(text):
    assert evaluate(text) is None


def test_huge_products_are_cut_off_not_computed():
    # 20 factors of 29 digits each would be a 580-digit number: past the result bound
    assert evaluate(" * ".join(["9" * 29] * 20)) is None
    assert evaluate(" * ".join(["9" * 29] * 3)) == Fraction(int("9" * 29) ** 3)


def test_rounded_results_agree_to_the_precision_written():
    assert agrees(Fraction(1, 6), Fraction("0.17"), "0.17")
    assert not agrees(Fraction(5, 2), Fraction("2.6"), "2.6")
    assert agrees(Fraction(10, 3), Fraction(3), "3")  # a rounding of a fraction
    assert not agrees(Fraction(36), Fraction(38), "38")  # whole numbers are exact
    assert not agrees(Fraction(1, 4), Fraction(3, 10), "30%")  # 25% is not 30%
    assert agrees(Fraction(1, 4), Fraction(1, 4), "25%")


def test_find_equations_inline_and_calculator():
    eqs = find_equations("Ethan has 143 * 5 = $<<143*5=715>>715 and 2 + 2 = 5.")
    assert [(e.kind, e.lhs, e.computed, e.stated, e.correct) for e in eqs] == [
        ("inline", "143 * 5", 715, 715, True),
        ("calc", "143 * 5", 715, 715, True),
        ("inline", "2 + 2", 4, 5, False),
    ]
    (chain,) = find_equations("so the total = 2 + 3 = 6 apples")
    assert (chain.lhs, chain.computed, chain.stated) == ("2 + 3", 5, 6)
    (x,) = find_equations("Therefore 19 x 5 = 85 apples in 6 boxes.")
    assert (x.lhs, x.computed, x.stated, x.correct) == ("19 * 5", 95, 85, False)
    assert x.result_span == (19, 21)


@pytest.mark.parametrize(
    "line",
    [
        "x = 5",
        "the box = 4 cm",
        "2**999999 = 3",
        "10^1000 = 1",
        "((((1+2 = 3",
        "=" * 3000,
        "1 = = = 2",
        "9" * 10_000 + " * 2 = 5",
        "<<3*=>> and <<=>> and <<1/0=2>>",
        "(" * 2000 + "1+1 = 2",
    ],
)
def test_find_equations_never_raises_on_junk(line):
    for e in find_equations(line):
        assert isinstance(e.computed, Fraction)


def test_numbers_in_ignores_annotations_and_reads_commas():
    assert numbers_in("He pays $1,200 for 3 bikes, so 1200 / 3 = <<1200/3=400>>400 each.") == [1200, 3, 1200, 3, 400]


# ------------------------------------------------------------------------------------------ annotator

QUESTION = "Nora bakes 4 trays of 9 cookies. She gives 7 cookies to Omar. How many cookies does Nora have left?"
TRUTH = [TrueStep(Fraction(36), "4*9"), TrueStep(Fraction(29), "36-7")]


def solution(*lines: str) -> str:
    return SOLUTION_PREFIX + "\n".join(lines)


def test_correct_solution_is_correct_everywhere():
    sol = solution("Nora bakes 4 * 9 = <<4*9=36>>36 cookies.", "", "She has 36 - 7 = 29 left.", "The answer is 29.")
    a = check_solution(sol, "29", True, "29", QUESTION, TRUTH)
    assert (a.status, a.verdict, a.first_error) == ("ok", "correct", None)
    assert a.critique == (
        "Step sentence: Nora bakes 4 * 9 = 36 cookies.\n"
        "Correctness of the step: Correct\n"
        "Explanation: 4 * 9 = 36 is correct.\n\n"
        "Step sentence: She has 36 - 7 = 29 left.\n"
        "Correctness of the step: Correct\n"
        "Explanation: 36 - 7 = 29 is correct.\n\n"
        "Step sentence: The answer is 29.\n"
        "Correctness of the step: Correct\n"
        "Explanation: The final answer 29 follows from the steps.\n\n"
        "Correctness of the final answer: Correct\n"
        "Explanation: The final answer 29 is correct."
    )
    parsed = parse_critique(a.critique)
    assert parsed.verdict == "correct" and parsed.steps == ("correct", "correct", "correct")


def test_calculation_error_is_the_first_wrong_step_and_taints_later_steps():
    sol = solution("Nora bakes 4 * 9 = 38 cookies.", "She has 38 - 7 = 31 left.", "The answer is 31.")
    a = check_solution(sol, "29", False, "31", QUESTION, TRUTH)
    assert a.first_error == 0
    assert [(s.correct, s.explanation) for s in a.steps] == [
        (False, "4 * 9 = 36, not 38."),
        (False, "It uses 38, which comes from a wrong step."),
        (False, "The final answer should be 29, not 31."),
    ]
    assert a.critique is not None and a.critique.endswith(
        "Correctness of the final answer: Wrong\nExplanation: The final answer should be 29, not 31."
    )
    assert parse_critique(a.critique).steps == ("wrong", "wrong", "wrong")


def test_calculation_error_without_true_values_gsm8k_style():
    sol = solution("Nora bakes 4 * 9 = <<4*9=36>>36 cookies.", "She has 36 - 7 = <<36-7=28>>28 left.", "#### 28")
    a = check_solution(sol, "29", False, "28", QUESTION, None)
    assert a.first_error == 1
    assert a.steps[1].explanation == "36 - 7 = 29, not 28."
    assert a.steps[1].sentence == "She has 36 - 7 = 28 left."  # the annotation is not repeated


def test_misused_quantity_is_caught_with_true_values_only():
    sol = solution("Nora bakes 4 * 8 = 32 cookies.", "She has 32 - 7 = 25 left.", "The answer is 25.")
    a = check_solution(sol, "29", False, "25", QUESTION, TRUTH)
    assert a.first_error == 0
    assert a.steps[0].explanation == "This step gives 32, but it should give 36 (4 * 9 = 36)."
    # without the true values the arithmetic is all right, and a wrong answer it computed cannot be located
    b = check_solution(sol, "29", False, "25", QUESTION, None)
    assert (b.status, b.first_error, b.critique) == ("unlocalised", None, None)


def test_wrong_operation_in_the_second_step():
    sol = solution("Nora bakes 4 * 9 = 36 cookies.", "She has 36 + 7 = 43 cookies.", "The answer is 43.")
    a = check_solution(sol, "29", False, "43", QUESTION, TRUTH)
    assert a.first_error == 1
    assert a.steps[0].correct and not a.steps[1].correct
    assert a.steps[1].explanation == "This step gives 43, but it should give 29 (36 - 7 = 29)."


def test_a_legitimate_intermediate_value_is_not_an_error():
    truth = [TrueStep(Fraction(40), "50*80/100")]
    sol = solution("She keeps 80%: 50 * 80 = 4000 hundredths.", "4000 / 100 = 40 marbles.", "The answer is 39.")
    a = check_solution(sol, "40", False, "39", "Ava has 50 marbles and keeps 80% of them.", truth)
    assert a.first_error == 2  # only the answer line misstates the result
    assert a.steps[2].explanation == "The final answer should be 40, not 39."


def test_answer_line_that_misstates_a_computed_result():
    sol = solution("4 * 9 = 36", "36 - 7 = 29", "The answer is 30.")
    a = check_solution(sol, "29", False, "30", QUESTION, None)
    assert a.first_error == 2


def test_no_final_answer_pins_the_last_step():
    sol = solution("Nora bakes 4 * 9 = 36 cookies.", "She thinks about it.")
    a = check_solution(sol, "29", False, None, QUESTION, TRUTH)
    assert a.first_error == 1
    assert a.critique is not None and a.critique.endswith(
        "The solution gives no final answer; the answer should be 29."
    )


def test_empty_solution_is_flagged_without_critique():
    a = check_solution(SOLUTION_PREFIX + "\n \n", "29", False, None, QUESTION, TRUTH)
    assert (a.status, a.critique) == ("empty", None)


def test_adversarial_solution_lines_are_checked_without_blow_up():
    sol = solution(
        "First 2**99999999 = 1 and 10^10000 = 7.",
        "Then " + "9" * 10_000 + " * 3 = 5",
        "((((4 * 9 = 36",
        "4 * 9 = 37",
        "The answer is 29.",
    )
    a = check_solution(sol, "29", False, "29x", QUESTION, None)
    assert a.first_error == 3  # the only well-formed claim that is false
    assert a.steps[3].explanation == "4 * 9 = 36, not 37."
    assert a.critique is not None and parse_critique(a.critique).verdict == "wrong"


def test_step_helpers():
    assert solution_steps(solution("a", "", "  b  ")) == ["a", "b"]
    assert step_sentence("so  3 * 12 = <<3*12=36>>36   pens.") == "so 3 * 12 = 36 pens."


def test_true_steps_from_the_steps_field_and_from_synthetic_references():
    rec = {"steps": [{"text": "x", "expr": "3*12", "value": 36}, {"text": "y", "expr": "36/4", "value": "9"}]}
    assert true_steps(rec) == [TrueStep(Fraction(36), "3*12"), TrueStep(Fraction(9), "36/4")]
    synth = {
        "dataset": "synthetic",
        "reference": "Ava has 3 * 12 = <<3*12=36>>36 pens.\nShe has 36 - 5 = <<36-5=31>>31 left.\n#### 31",
    }
    assert true_steps(synth) == [TrueStep(Fraction(36), "3*12"), TrueStep(Fraction(31), "36-5")]
    assert true_steps({"dataset": "gsm8k", "reference": "3 * 12 = <<3*12=36>>36\n#### 36"}) is None
    assert true_steps({"steps": [{"expr": "2**99999"}]}) is None


def test_annotate_record_reads_a_graded_path():
    path = {
        "question": QUESTION,
        "response": solution("Nora bakes 4 * 9 = 36 cookies.", "She has 36 - 7 = 28 left.", "The answer is 28."),
        "gold": "29",
        "correct": False,
        "pred": "28",
        "steps": [{"expr": "4*9", "value": 36}, {"expr": "36-7", "value": 29}],
    }
    a = annotate_record(path)
    assert a.first_error == 1 and a.steps[1].explanation == "36 - 7 = 29, not 28."


def test_answer_stated_without_the_answer_phrase():
    sol = solution("Nora bakes 4 * 9 = 36 cookies.", "She gives 7 away.", "So Nora has 30 cookies.")
    a = check_solution(sol, "29", False, "30", QUESTION, TRUTH)
    assert a.first_error == 2
    assert a.steps[2].explanation == "The final answer should be 29, not 30."
