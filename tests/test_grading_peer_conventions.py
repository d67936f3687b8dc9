"""Answer conventions that other graders' test suites exercise, one group per family.

The cases in this module are written for these tests (each family both ways: what must match
and what must not). ``tests/data/peer_grading_cases.jsonl`` holds the labelled cases of the
published test suites of seven other graders, each with its source; the last tests check that
every one of them gets its label, except the few where this grader deliberately follows another
convention (each says why, and where a grading option reproduces the other convention, it is
checked with that option).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfimprove.grading.api import compare, extract_gold, extract_pred, grade, grade_batch, warm_up
from selfimprove.grading.phrases import cut_chat_turns
from selfimprove.stages.process import main as cli_main

PEER_FILE = Path(__file__).resolve().parent / "data" / "peer_grading_cases.jsonl"
PEER_ROWS = [json.loads(line) for line in PEER_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
PEER_REPOS = {
    "huggingface/Math-Verify",
    "hendrycks/math",
    "MARIO-Math-Reasoning/MARIO_EVAL",
    "NVIDIA/NeMo-Skills",
    "hkust-nlp/dart-math",
    "openai/simple-evals",
    "rllm-org/rllm",
}


@pytest.fixture(scope="module", autouse=True)
def _pool():
    warm_up(1)


def _equal(a: str, b: str, **opts) -> bool:
    v = compare(a, b, **opts)
    assert v.status == "ok", (a, b, v)
    return v.equal


# --------------------------------------------------------------------------- text after the answer


@pytest.mark.parametrize(
    "response,expected",
    [
        ("So the answer is $\\frac{5}{7}$. <|im_start|>user\nNow solve $x+1=3$.<|im_end|>", "\\frac{5}{7}"),
        ("Thus the total is 41.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd 2+2?", "41"),
        ("The answer is 12.</s>The answer is 13.</s>", "12"),
        ("<|im_start|>assistant\nThe answer is 9.<|im_end|>", "9"),
        # No marker: the last statement still counts.
        ("The answer is 12. Later: the answer is 13.", "13"),
    ],
)
def test_text_after_a_chat_turn_marker_is_not_read(response, expected):
    assert extract_pred(response, "math") == expected


def test_cut_chat_turns_keeps_text_without_markers():
    assert cut_chat_turns("a < b and c > d") == "a < b and c > d"
    assert cut_chat_turns("x<|im_end|>") == "x"


@pytest.mark.parametrize(
    "response,expected",
    [
        # Sign-offs after the closing sentence are skipped.
        ("We count the cases. Therefore, there are 12 ways to do it. I hope it is correct.", "12"),
        ("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.", "\\frac{3}{4}"),
        # A final-answer line in prose with one value.
        ("Some work.\nFinal Answer: Maria finished 7 laps before noon.", "7"),
        ('Some work.\nFinal Answer: the final answer is "$4 $ and $9 $".', "$4 $ and $9 $"),
        # A concluding sentence without a verb states its one value.
        ("We halve it twice.\nSo the load drops by 75%.", "75%"),
        # "<value> is our answer" after boxes used as notation.
        ("Here $\\boxed{3}$ denotes a digit sum, so $\\boxed{3}=3$.\nTherefore, $8$ is our answer.", "8"),
        ("Answer: 21", "21"),
        ("We check: $\\boxed{5}$ fits.\nThe final answer is 6.", "6"),
    ],
)
def test_answer_lines_and_closing_sentences(response, expected):
    assert extract_pred(response, "math") == expected


@pytest.mark.parametrize(
    "response,expected",
    [
        ("Since $\\boxed{44}$ works, our answer is correct.", "44"),  # a remark, not a new answer
        ("We list the options.\nSo we compare 3 and 5 next.", None),  # two values: none stated
        ("Writing $ \n 9 \n $ on its own lines\nis not a formula.", None),  # inline math does not span lines
        ("One line of prose around one number: it is 12", "12"),
        ("In total 3 apples and 5 pears", "5"),  # a one-line answer in prose: its last number
    ],
)
def test_answer_lines_that_state_no_new_value(response, expected):
    assert extract_pred(response, "math") == expected


# --------------------------------------------------------------------------- several boxes, parts, names


@pytest.mark.parametrize(
    "response,expected",
    [
        ("\\(x = \\boxed{3}\\) and \\(x = \\boxed{-4}\\)", "3, -4"),
        ("$\\boxed{(2, 1)}$ \\text{ for part (a) and } $\\boxed{(0, 4)}$", "(2, 1), (0, 4)"),
        ("(a) $\\boxed{5}$ \\quad (b) $\\boxed{7}$", "5, 7"),
        ("The sides are $\\boxed{6}$ cm and $\\boxed{8}$ cm.", "6, 8"),
        ("\\(y_1 = \\boxed{2x+1}\\) and \\(y_2 = \\boxed{x-3}\\)", "2x+1, x-3"),
        # Boxes separated by prose stay apart: the last one is the answer.
        ("We first get $\\boxed{2}$ but that was wrong so we redo it all and get $\\boxed{5}$", "5"),
        ("$\\boxed{2}$ maybe maybe maybe $\\boxed{5}$", "5"),
    ],
)
def test_several_boxes_form_one_answer(response, expected):
    assert extract_pred(response, "math") == expected


@pytest.mark.parametrize(
    "gold,expected",
    [
        ("$\\boxed{12} ; \\boxed{4}$", "12, 4"),  # a bare answer written as several boxes
        ("\\boxed{1} cats and \\boxed{2} dogs", "1, 2"),
        ("\\boxed{1} one two three four \\boxed{2}", "2"),  # prose between: the last box
        ("\\\\boxed{f(n) = 1 \\\\text{ or } f(n) = 3", "f(n) = 1 \\\\text{ or } f(n) = 3"),  # never closed
    ],
)
def test_gold_written_as_several_boxes(gold, expected):
    assert extract_gold(gold, "math") == expected


@pytest.mark.parametrize(
    "gold,pred,expected",
    [
        ("-4, 3", "3, -4", True),
        ("(1,3),(2,5)", "x=1,y=3; x=2,y=5", True),
        ("(1,3),(2,5)", "x=1,y=5; x=2,y=3", False),
        ("0, 2", "f(t)=0 \\text{ or } f(t)=2", True),
        ("0, 2", "f(t)=0orf(t)=2", True),
        ("0, 2", "f(t)=0 \\text{ or } f(t)=3", False),
        ("5, 7", "(a) 5, (b) 7", True),
        ("5, 7", "(a) 5 (b) 8", False),
        ("(2,3)", "(a,b)=(2,3)", True),
        ("\\frac{1}{2}", "\\frac{AM}{MB} = \\frac{1}{2}", True),
        ("(a)(b)", "(b)(a)", True),  # a product, not two parts
    ],
)
def test_named_answers_and_parts(gold, pred, expected):
    assert _equal(gold, pred) is expected


# --------------------------------------------------------------------------- solution sets and order


@pytest.mark.parametrize(
    "gold,pred,expected",
    [
        ("(1,2),(3,4)", "(3,4),(1,2)", True),
        ("(1,2),(3,4)", "(3,4); (1,2)", True),
        ("(1,2),(3,4)", "(3,4) \\text{ or } (1,2)", True),
        ("(1,2),(3,4)", "(3,4)and(1,2)", True),
        ("(1,2),(3,4)", "\\{(3,4), (1,2)\\}", True),
        ("(1,2),(3,4)", "(1,2),(3,4),(3,4)", True),  # a solution written twice counts once
        ("(1,2),(3,4)", "(2,1),(3,4)", False),  # a tuple is ordered
        ("(1;2;3),(0;0;1)", "(0, 0, 1), (1, 2, 3)", True),
        ("1, 2, 3", "3, 2, 1", True),
        ("1, 2, 3", "1, 2, 3, 4", False),
        ("7, -2, -5", "-5, -2, \\text{ and } 7", True),
        ("19, 46, 82", "19, 46, and 82", True),
    ],
)
def test_solution_sets_in_any_order_and_separator(gold, pred, expected):
    assert _equal(gold, pred) is expected


def test_ordered_lists_option_compares_sequences():
    assert _equal("2, 4, 8", "8, 4, 2")
    assert not _equal("2, 4, 8", "8, 4, 2", ordered_lists=True)
    assert _equal("2, 4, 8", "2, 4, 8", ordered_lists=True)
    assert _equal("\\{2, 4\\}", "\\{4, 2\\}", ordered_lists=True)  # a set stays a set
    g = grade("The answer is $\\boxed{8, 4, 2}$.", "2, 4, 8", "math", ordered_lists=True)
    assert g.ok and not g.correct


# --------------------------------------------------------------------------- numbers, percentages, units


@pytest.mark.parametrize(
    "gold,pred,expected",
    [
        ("12500", "12 500", True),
        ("12500", "12\u2009500", True),  # thin space
        ("12500", "12\\,500", True),
        ("12500", "12{,}500", True),
        ("32349", "32, 349", False),  # a comma and a space separate two numbers
        ("1234", "1,234", True),
        ("1000.99", "1000,99", True),  # a decimal comma that cannot separate thousands
        ("0.125", "0,125", True),
        ("1.234", "1,234", False),
        ("1000.99", "1,000.99\u20ac", True),
        ("1000.99", "1,000.99 m\u00b2", True),
        ("28\\%", "28", True),
        ("28\\%", "0.28", True),
        ("28\\%", "0.29", False),
        ("15", "15\\text{ cm}", True),
        ("12", "12 \\text{ square units}", True),
    ],
)
def test_numbers_separators_percent(gold, pred, expected):
    assert _equal(gold, pred) is expected


@pytest.mark.parametrize(
    "gold,pred,expected",
    [
        ("3\\text{ cm}", "30\\text{ mm}", True),
        ("2\\text{ hours}", "120 \\text{ minutes}", True),
        ("2\\text{ hours}", "100 \\text{ minutes}", False),
        ("15\\mbox{ cm}^3", "15\\mbox{ cm}^2", False),
        ("15\\mbox{ cm}^2", "15 \\text{ square centimeters}", True),
        ("6\\text{ inches}", "0.5\\text{ feet}", True),
        ("2\\sqrt{3}\\text{ cm}", "20\\sqrt{3}\\text{ mm}", True),
        ("2\\sqrt{3}\\text{ cm}", "2\\sqrt{3}\\text{ mm}", False),
        ("5\\text{ kg}", "5\\text{ m}", False),
        ("48 \\text{ square units}", "48\\text{ cm}^2", True),  # "units" is any unit
    ],
)
def test_units_convert_between_units_of_one_quantity(gold, pred, expected):
    assert _equal(gold, pred) is expected


def test_units_ignore_option_drops_every_unit():
    assert _equal("15\\mbox{ cm}^3", "15\\mbox{ cm}^2", units="ignore")
    assert not _equal("3\\text{ cm}", "30\\text{ mm}", units="ignore")
    with pytest.raises(ValueError):
        compare("1", "1", units="metric")


# --------------------------------------------------------------------------- matrices, systems, intervals


@pytest.mark.parametrize(
    "gold,pred,expected",
    [
        ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", True),
        ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "[1, 2]", True),
        ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "[2, 1]", False),
        ("\\begin{pmatrix}4&6\\\\8&10\\end{pmatrix}", "2\\begin{pmatrix}2&3\\\\4&5\\end{pmatrix}", True),
        (
            "\\begin{pmatrix}2&1\\\\1&1\\end{pmatrix}",
            "\\begin{pmatrix}1&1\\\\0&1\\end{pmatrix}\\begin{pmatrix}1&0\\\\1&1\\end{pmatrix}",
            True,
        ),
        (
            "\\begin{pmatrix}1&1\\\\1&2\\end{pmatrix}",
            "\\begin{pmatrix}1&1\\\\0&1\\end{pmatrix}\\begin{pmatrix}1&0\\\\1&1\\end{pmatrix}",
            False,
        ),
        (
            "\\begin{pmatrix}3&3\\end{pmatrix}",
            "\\begin{pmatrix}1&2\\end{pmatrix} + \\begin{pmatrix}2&1\\end{pmatrix}",
            True,
        ),
        ("\\begin{cases} x+y=3 \\\\ x-y=1 \\end{cases}", "\\begin{cases} x-y=1 \\\\ x+y=3 \\end{cases}", True),
        ("\\begin{cases} x+y=3 \\\\ x-y=1 \\end{cases}", "\\begin{cases} x+y=3 \\\\ x-y=2 \\end{cases}", False),
    ],
)
def test_matrices_vectors_and_systems(gold, pred, expected):
    assert _equal(gold, pred) is expected


@pytest.mark.parametrize(
    "gold,pred,expected",
    [
        ("2 \\le |w| \\le \\frac{5}{2}", "[-\\frac{5}{2}, -2] \\cup [2, \\frac{5}{2}]", True),
        ("2 \\le |w| \\le \\frac{5}{2}", "w \\in [-\\frac52,-2]\\cup[2,\\frac52]", True),
        ("2 \\le |w| \\le \\frac{5}{2}", "[2, \\frac{5}{2}]", False),
        ("|x| < 3", "(-3, 3)", True),
        ("|x| > 2", "(-\\infty, -2) \\cup (2, \\infty)", True),
        ("|x| > 2", "(-\\infty, -2] \\cup [2, \\infty)", False),
        ("0 < |x| < 1", "(-1, 0) \\cup (0, 1)", True),
        ("-1 < x \\le 4", "(-1, 4]", True),
    ],
)
def test_intervals_and_inequalities(gold, pred, expected):
    assert _equal(gold, pred) is expected


# --------------------------------------------------------------------------- approximations, relations


@pytest.mark.parametrize(
    "gold,pred,expected",
    [
        ("\\sqrt{3}", "1.7320508", True),
        ("\\sqrt{3}", "1.732", False),
        ("10\\pi", "31.4159265", True),
        ("10\\pi", "31.416", False),
        ("0.3", "0.30000000000000004", True),  # a double printed in full
        ("0.3", "0.3000000001", False),
        ("\\frac{1}{432}", "2.314814814815 \\times 10^{-3}", True),
        ("\\frac{1}{8}", "0.13", False),
    ],
)
def test_numeric_approximations(gold, pred, expected):
    assert _equal(gold, pred) is expected


def test_tolerance_option_accepts_shorter_approximations():
    assert _equal("\\sqrt{3}", "1.732", rel_tol=1e-3)
    assert _equal("10\\pi", "31.416", rel_tol=1e-5)
    assert not _equal("10\\pi", "31.42", rel_tol=1e-5)


@pytest.mark.parametrize(
    "gold,pred,expected",
    [
        ("2b+d", "5 = 2b+d", False),
        ("5 = 2b+d", "2b+d", False),
        ("5 = 2b+d", "2b+d = 5", True),
        ("x^2+y^2=1", "x^2+y^2-1", False),
        ("5", "x = 5", True),  # a named answer is its value
        ("5", "\\frac{10}{2} = 5", True),  # a computation ends in its value
        ("\\text{yes}", "\\text{True}", True),
        ("\\text{no}", "\\text{true}", False),
    ],
)
def test_relations_and_words(gold, pred, expected):
    assert _equal(gold, pred) is expected


# --------------------------------------------------------------------------- options reach every entry point


def test_options_reach_batch_and_command_line(tmp_path):
    items = [
        ("The answer is $\\boxed{3, 1, 2}$.", "1, 2, 3", "math"),
        ("Answer: $15\\text{ cm}^3$", "15\\text{ cm}^2", "math"),
    ]
    assert [g.correct for g in grade_batch(items, workers=1)] == [True, False]
    assert [g.correct for g in grade_batch(items, workers=1, ordered_lists=True, units="ignore")] == [False, True]
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(
            json.dumps({"id": str(i), "dataset_type": t, "gold": g, "response": r}) + "\n"
            for i, (r, g, t) in enumerate(items)
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    assert (
        cli_main(
            [
                "grade",
                "--input",
                str(src),
                "--output",
                str(out),
                "--workers",
                "1",
                "--ordered-lists",
                "--units",
                "ignore",
            ]
        )
        == 0
    )
    got = [json.loads(line)["correct"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert got == [False, True]


# --------------------------------------------------------------------------- the peers' own labelled cases


def test_peer_file_is_well_formed():
    ids = [r["id"] for r in PEER_ROWS]
    assert len(ids) == len(set(ids)) and len(ids) >= 300
    assert {r["source"].split("@", 1)[0] for r in PEER_ROWS} >= PEER_REPOS
    for r in PEER_ROWS:
        assert isinstance(r["expected"], bool) and r["dataset_type"] == "math"
        assert isinstance(r["response"], str) and isinstance(r["gold"], (str, list))
        assert ":" in r["source"] and "::" in r["source"]


def _peer_grade(row, **opts) -> bool:
    golds = row["gold"] if isinstance(row["gold"], list) else [row["gold"]]
    grades = [grade(row["response"], g, row["dataset_type"], **opts) for g in golds]
    assert all(g.status == "ok" for g in grades), (row["id"], [g.status for g in grades])
    return any(g.correct for g in grades)


@pytest.mark.parametrize("row", PEER_ROWS, ids=[r["id"] for r in PEER_ROWS])
def test_peer_case(row):
    """Every peer case gets its label, under the setting its own test uses; where this grader
    follows another convention by default (a ``note`` says which), it gets the other verdict, and
    the peer's under ``alt_options`` when an option reproduces the peer's convention."""
    verdict = _peer_grade(row, **row.get("options", {}))
    if "note" in row and "peer_expected" not in row:
        assert verdict is not row["expected"], row["note"]
        if "alt_options" in row:
            assert _peer_grade(row, **row["alt_options"]) is row["expected"]
    else:
        assert verdict is row["expected"]
