"""Tests for the synthetic word-problem generator (selfimprove.data.synthetic)."""

from __future__ import annotations

import ast
import json
import operator
import re
from collections import Counter
from fractions import Fraction

import pytest

from selfimprove.data.synthetic import apply_op, generate, generate_problems
from selfimprove.stages import synthetic as synthetic_stage

RECORD_KEYS = {"id", "dataset", "dataset_type", "split", "question", "reference", "gold", "level", "subject", "steps"}
ANNOTATION = re.compile(r"<<([^=<>]+)=([^<>]+)>>")
WORD_NUMBERS = {"half": 2, "third": 3, "quarter": 4, "fifth": 5}


def safe_eval(expr: str) -> Fraction:
    """Evaluate an arithmetic expression of numbers, + - * / and parentheses (no eval())."""
    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}

    def ev(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return Fraction(str(node.value))
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        raise ValueError(f"unsupported expression {expr!r}")

    return ev(ast.parse(expr, mode="eval"))


def test_safe_eval_rejects_non_arithmetic():
    assert safe_eval("40*75/100") == 30
    with pytest.raises(ValueError):
        safe_eval("__import__('os')")


@pytest.fixture(scope="module")
def train():
    return generate(250, "train", seed=0)


@pytest.fixture(scope="module")
def test_split():
    return generate(250, "test", seed=0)


def test_record_schema(train):
    for i, r in enumerate(train):
        assert set(r) == RECORD_KEYS
        assert r["id"] == f"synthetic/train/{i}"
        assert r["dataset"] == "synthetic" and r["dataset_type"] == "gsm8k"
        assert r["split"] == "train"
        assert isinstance(r["level"], int) and 1 <= r["level"] <= 5
        assert r["subject"] in {"objects", "money", "travel"}
        assert r["question"].endswith("?") and r["question"].strip() == r["question"]
        assert r["gold"].isdigit()
        json.dumps(r)  # serializable


def test_deterministic_and_seed_dependent(train):
    assert generate(250, "train", seed=0) == train
    other = generate(250, "train", seed=1)
    assert [r["question"] for r in other] != [r["question"] for r in train]


def test_prefix_stable(train):
    assert generate(40, "train", seed=0) == train[:40]


def test_levels_balanced_and_equal_step_count(train):
    counts = Counter(r["level"] for r in train)
    assert set(counts) == {1, 2, 3, 4, 5} and set(counts.values()) == {50}
    for r in train:
        lines = r["reference"].split("\n")
        assert lines[-1] == f"#### {r['gold']}"
        assert len(lines) - 1 == r["level"]  # one line per step
        assert all(len(ANNOTATION.findall(line)) == 1 for line in lines[:-1])


def test_level_subset_and_bad_arguments():
    recs = generate(9, "test", seed=3, levels=(2, 4, 5))
    assert [r["level"] for r in recs] == [2, 4, 5] * 3
    with pytest.raises(ValueError):
        generate(3, "dev")
    with pytest.raises(ValueError):
        generate(3, "train", levels=(0, 6))


def test_unique_questions(train):
    assert len({r["question"] for r in train}) == len(train)


def test_train_test_disjoint(train, test_split):
    assert not {r["question"] for r in train} & {r["question"] for r in test_split}
    other_seed = generate(250, "test", seed=7)
    assert not {r["question"] for r in train} & {r["question"] for r in other_seed}


def test_annotation_arithmetic(train, test_split):
    for r in train + test_split:
        for line in r["reference"].split("\n")[:-1]:
            ((expr, val),) = ANNOTATION.findall(line)
            assert safe_eval(expr) == Fraction(val), line
            assert val.isdigit() and f">>{val}" in line


def test_answer_recomputed_from_steps_and_text():
    """Every step is exact, chains on the previous result, and uses only numbers stated in
    the question (digits or fraction words), earlier results, or the 100 of a percentage."""
    for split in ("train", "test"):
        for p in generate_problems(250, split, seed=5):
            stated = {int(x) for x in re.findall(r"\d+", p.question)}
            stated |= {v for w, v in WORD_NUMBERS.items() if re.search(rf"\b{w}\b", p.question)}
            results: list[int] = []
            for i, step in enumerate(p.steps):
                a, b = step.operands
                assert apply_op(step.op, a, b) == step.result
                assert safe_eval(step.expr) == step.result
                assert f"<<{step.expr}={step.result}>>" in step.line
                if i > 0:
                    assert results[-1] in (a, b), "step does not use the previous result"
                for x in (a, b):
                    assert x in stated or x in results, (x, p.question)
                assert 0 <= step.result < 1000 and a < 1000 and b < 1000
                results.append(step.result)
            assert p.answer == results[-1]
            rec = p.to_record(split, 0)
            assert rec["gold"] == str(results[-1])


def test_apply_op_rejects_fractions():
    with pytest.raises(ValueError):
        apply_op("/", 7, 2)
    with pytest.raises(ValueError):
        apply_op("%", 7, 30)


def test_cli_writes_jsonl(tmp_path):
    out = tmp_path / "sub" / "train.jsonl"
    assert synthetic_stage.main(["--n", "7", "--split", "train", "--seed", "2", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == generate(7, "train", seed=2)
    assert not [p for p in out.parent.iterdir() if p.name != "train.jsonl"]  # no temp left


# Digests of the standard problems as generated before the generator was split into modules:
# any change to the word lists, the template order or the seeded stream changes them.
PINNED = {
    "train": "b4ee4be18815f4344800e8beeb66b7788e17abf0db48f42393cd96e3fb0befa0",
    "test": "7b7eae0c43a589a0569a7b226e954a489e561880b1ef1282937090ea8f7ceee3",
}


@pytest.mark.parametrize("split", ["train", "test"])
def test_standard_output_pinned(split):
    import hashlib

    rows = [[r["id"], r["question"], r["reference"], r["gold"], r["level"], r["subject"]] for r in generate(120, split)]
    assert hashlib.sha256(json.dumps(rows).encode()).hexdigest() == PINNED[split]


# ---------------------------------------------------------------------------- steps field


def test_steps_field_matches_reference_lines(train):
    for r in train:
        lines = r["reference"].split("\n")[:-1]
        assert [st["text"] for st in r["steps"]] == lines
        for st in r["steps"]:
            assert set(st) == {"text", "expr", "value"}
            assert type(st["value"]) is int and safe_eval(st["expr"]) == st["value"]
            assert f"<<{st['expr']}={st['value']}>>" in st["text"]
        assert str(r["steps"][-1]["value"]) == r["gold"]


def test_steps_field_written_example():
    """A record's steps, checked by hand against its reference text."""
    rec = generate(2, "train", seed=0, difficulty="easy")[1]
    assert rec["reference"] == (
        "Grace has 12 - 4 = <<12-4=8>>8 stickers left.\nOscar has 8 * 2 = <<8*2=16>>16 stickers.\n#### 16"
    )
    assert rec["steps"] == [
        {"text": "Grace has 12 - 4 = <<12-4=8>>8 stickers left.", "expr": "12-4", "value": 8},
        {"text": "Oscar has 8 * 2 = <<8*2=16>>16 stickers.", "expr": "8*2", "value": 16},
    ]


# ---------------------------------------------------------------------------- easy setting


@pytest.fixture(scope="module")
def easy():
    return generate_problems(400, "train", seed=0, difficulty="easy") + generate_problems(
        200, "test", seed=4, difficulty="easy"
    )


def test_easy_small_numbers_simple_ops(easy):
    for p in easy:
        assert p.level in (1, 2) and len(p.steps) == p.level
        assert p.theme in {"objects", "money"}
        stated = [int(x) for x in re.findall(r"\d+", p.question)]
        assert stated and all(2 <= x <= 49 for x in stated), p.question
        results: list[int] = []
        for i, step in enumerate(p.steps):
            a, b = step.operands
            assert step.op in "+-*"
            if step.op == "*":
                assert min(a, b) <= 9
            assert apply_op(step.op, a, b) == step.result and 2 <= step.result <= 49
            if i > 0:
                assert a == results[-1]
            for x in (a, b):
                assert x in stated or x in results, (x, p.question)
            results.append(step.result)


def test_easy_records_levels_and_names():
    recs = generate(10, "test", seed=1, difficulty="easy")
    assert [r["level"] for r in recs] == [1, 2] * 5
    assert [r["id"] for r in recs] == [f"synthetic-easy/test/{i}" for i in range(10)]
    assert {r["dataset"] for r in recs} == {"synthetic-easy"} and {r["dataset_type"] for r in recs} == {"gsm8k"}
    assert all(set(r) == RECORD_KEYS for r in recs)
    assert generate(4, "test", seed=1, difficulty="easy") == recs[:4]
    train = {r["question"] for r in generate(300, "train", seed=1, difficulty="easy")}
    assert not train & {r["question"] for r in generate(100, "test", seed=1, difficulty="easy")}


def test_easy_bad_arguments():
    with pytest.raises(ValueError, match="levels"):
        generate(2, "train", levels=(3,), difficulty="easy")
    with pytest.raises(ValueError, match="difficulty"):
        generate(2, "train", difficulty="hard")


def test_cli_easy(tmp_path):
    out = tmp_path / "easy.jsonl"
    assert synthetic_stage.main(["--n", "5", "--split", "test", "--difficulty", "easy", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == generate(5, "test", difficulty="easy")
    with pytest.raises(SystemExit):
        synthetic_stage.main(["--n", "5", "--difficulty", "easy", "--levels", "1,4", "--out", str(out)])


# ---------------------------------------------------------------------------- both generators pinned

# Digests of the whole records (steps included) of both difficulties, and a few records written
# out whose steps both difficulties have (gives more, times as many, hourly wage, earns more:
# written once, in selfimprove/data/synth/steps.py): any change to a step's wording, its numbers
# or the seeded stream changes them.
PINNED_RECORDS = {
    ("standard", "train"): "e41cb6e28bb11c1512dba77a82b45e218e3d8f576e6eb95d2f50a49b6709af3c",
    ("standard", "test"): "e794a013705e0038d3f444b33401b712e2e819c4f3152a46eb03799e5842209d",
    ("easy", "train"): "116596e34f54a2584bb21d6e38b7c97171bed75e01842735a30e1f4d3b89950d",
    ("easy", "test"): "42249451bae2e7b31699eef624b5efcbd94a9b0f39d00e7cbfb1105d917806a1",
}


@pytest.mark.parametrize(("difficulty", "split"), sorted(PINNED_RECORDS))
def test_records_pinned(difficulty, split):
    import hashlib

    recs = generate(200, split, seed=3, difficulty=difficulty)
    digest = hashlib.sha256(json.dumps(recs, sort_keys=True).encode()).hexdigest()
    assert digest == PINNED_RECORDS[difficulty, split]


# (difficulty, index in generate(12, "train", seed=3)) -> (question, reference)
PINNED_EXAMPLES = {
    ("easy", 3): (
        "Noah earns $4 per hour washing cars and works 5 hours. Then Noah earns $8 more mowing lawns. "
        "How much money does Noah have now?",
        "Noah earns 4 * 5 = $<<4*5=20>>20.\nNoah now has 20 + 8 = $<<20+8=28>>28.\n#### 28",
    ),
    ("easy", 5): (
        "Noah has 11 stickers. Lena gives him 12 more stickers. Chloe has 2 times as many stickers as Noah. "
        "How many stickers does Chloe have?",
        "Noah has 11 + 12 = <<11+12=23>>23 stickers now.\nChloe has 23 * 2 = <<23*2=46>>46 stickers.\n#### 46",
    ),
    ("standard", 4): (
        "Chloe has $218 and gets $93 for her birthday. Tomas has 2 times as much money as Chloe. "
        "Tomas keeps 50% of his money and spends the rest on a concert ticket. "
        "Then Tomas earns $67 more walking dogs. Then Tomas earns $54 more mowing lawns. "
        "How much money does Tomas have now?",
        "Chloe has 218 + 93 = $<<218+93=311>>311.\nTomas has 311 * 2 = $<<311*2=622>>622.\n"
        "Tomas keeps 622 * 50 / 100 = $<<622*50/100=311>>311.\nTomas now has 311 + 67 = $<<311+67=378>>378.\n"
        "Tomas now has 378 + 54 = $<<378+54=432>>432.\n#### 432",
    ),
    ("standard", 8): (
        "Hana buys 33 pens on Monday and 16 pens on Tuesday. Then Chloe gives Hana 11 more pens. "
        "Then Ravi gives Hana 30 more pens. Hana packs all of her pens into boxes of 9. How many boxes does Hana fill?",
        "Hana buys 33 + 16 = <<33+16=49>>49 pens in total.\nHana now has 49 + 11 = <<49+11=60>>60 pens.\n"
        "Hana now has 60 + 30 = <<60+30=90>>90 pens.\nShe fills 90 / 9 = <<90/9=10>>10 boxes.\n#### 10",
    ),
}


@pytest.mark.parametrize(("difficulty", "index"), sorted(PINNED_EXAMPLES))
def test_examples_pinned(difficulty, index):
    rec = generate(12, "train", seed=3, difficulty=difficulty)[index]
    assert (rec["question"], rec["reference"]) == PINNED_EXAMPLES[difficulty, index]
