"""Tests for loading datasets into question records (selfimprove.data.datasets)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from selfimprove.data import datasets
from selfimprove.data.datasets import (
    DatasetError,
    check_spec,
    find_last_boxed,
    gsm8k_gold,
    known_specs,
    load_questions,
    load_questions_with_report,
    parse_level,
)
from selfimprove.data.sources import hub
from selfimprove.stages import datasets as datasets_stage

FIXTURES = Path(__file__).parent / "fixtures"
GSM8K_ROWS = FIXTURES / "data_gsm8k_rows.jsonl"
MATH_ROWS = FIXTURES / "data_math_rows.jsonl"
MATH500_ROWS = FIXTURES / "data_math500_rows.jsonl"
RECORD_KEYS = {"id", "dataset", "dataset_type", "split", "question", "reference", "gold", "level", "subject"}


def good_rows(path: Path) -> list[dict]:
    """The fixture rows that parse as JSON objects."""
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


# ---------------------------------------------------------------------------- gold extraction


@pytest.mark.parametrize(
    "text, gold",
    [
        ("x = <<1+2=3>>3\n#### 3", "3"),
        ("It costs $<<1200*2=2400>>2400.\n#### 2,400", "2400"),
        ("#### -7", "-7"),
        ("#### 1,234,567", "1234567"),
        ("#### 2.5", "2.5"),
        ("#### $15", "15"),
        ("no marker here", None),
        ("#### ", None),
    ],
)
def test_gsm8k_gold(text, gold):
    assert gsm8k_gold(text) == gold


@pytest.mark.parametrize(
    "text, gold",
    [
        (r"so $\boxed{5}$.", "5"),
        (r"$\boxed{\frac{1}{2}}$", r"\frac{1}{2}"),
        (r"first \boxed{1}, then \boxed{\sqrt{\frac{a}{b^{2}}}}", r"\sqrt{\frac{a}{b^{2}}}"),
        (r"$\boxed{\{1, 2\}}$", r"\{1, 2\}"),
        (r"\fbox{x+1}", "x+1"),
        (r"\boxed 7", "7"),
        (r"\boxed{3} then \boxed{4", "3"),  # unbalanced last box: fall back to the earlier one
        ("no box", None),
    ],
)
def test_find_last_boxed(text, gold):
    assert find_last_boxed(text) == gold


@pytest.mark.parametrize("value, level", [("Level 3", 3), (4, 4), ("2", 2), (5.0, 5), ("Level ?", None), (None, None)])
def test_parse_level(value, level):
    assert parse_level(value) == level


# ---------------------------------------------------------------------------- specs


def test_known_specs_cover_all_forms():
    names = " ".join(known_specs())
    for name in ("synthetic", "gsm8k", "math", "math500", "gsm8k-local", "math500-local", "file:"):
        assert name in names


@pytest.mark.parametrize(
    "spec",
    [
        "gsm8k",
        "math",
        "math500",
        "synthetic",
        "synthetic:50",
        "synthetic-easy",
        "synthetic-easy:20",
        "synthetic:20?difficulty=easy",
        "synthetic?difficulty=standard",
        f"file:{GSM8K_ROWS}",
        str(MATH_ROWS),
        f"file:{MATH_ROWS}?type=math&question=problem",
    ],
)
def test_check_spec_accepts(spec):
    check_spec(spec)
    check_spec(spec, "test")


@pytest.mark.parametrize(
    "spec, split, words",
    [
        ("gsm9k", None, ["unknown dataset spec", "gsm9k"]),
        ("synthetic:zero", None, ["synthetic:zero"]),
        ("synthetic:0", None, ["synthetic:0"]),
        ("synthetic?difficulty=hard", None, ["difficulty must be", "hard"]),
        ("synthetic-easy?difficulty=standard", None, ["synthetic-easy is difficulty=easy"]),
        ("synthetic:5?levels=2", None, ["unknown field 'levels'", "difficulty, annotations"]),
        ("synthetic-hard", None, ["unknown dataset spec"]),
        ("file:/nonexistent/x.jsonl", None, ["not found", "/nonexistent/x.jsonl"]),
        ("/nonexistent/x.parquet", None, ["not found"]),
        ("file:data.csv", None, ["data.csv", ".jsonl"]),
        (f"file:{GSM8K_ROWS}?questoin=q", None, ["unknown field", "questoin"]),
        (f"file:{GSM8K_ROWS}?type=algebra", None, ["type must be"]),
        (f"file:{GSM8K_ROWS}?question=", None, ["needs a value"]),
        ("gsm8k", "validation", ["unknown split", "validation"]),
        ("math500", "train", ["only a test split"]),
    ],
)
def test_check_spec_rejects(spec, split, words):
    with pytest.raises(DatasetError) as exc:
        check_spec(spec, split)
    for w in words:
        assert w in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_local_specs_error_when_absent(tmp_path):
    nowhere = tmp_path / "nowhere"
    for spec in ("gsm8k-local", "math500-local"):
        with pytest.raises(DatasetError, match="not found") as exc:
            check_spec(spec, data_dir=nowhere)
        assert "DATA_DIR=" in str(exc.value) and str(nowhere) in str(exc.value)
        with pytest.raises(DatasetError, match=spec):
            load_questions(spec, "test", data_dir=nowhere)


def test_local_specs_read_data_dir(tmp_path):
    """gsm8k-local reads $DATA_DIR/gsm8k/<split>.jsonl, math500-local $DATA_DIR/math500/test.jsonl."""
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "train.jsonl").write_text(GSM8K_ROWS.read_text())
    (tmp_path / "math500").mkdir()
    (tmp_path / "math500" / "test.jsonl").write_text(MATH500_ROWS.read_text())
    check_spec("gsm8k-local", "train", tmp_path)
    with pytest.raises(DatasetError, match="test.jsonl not found"):
        check_spec("gsm8k-local", "test", tmp_path)
    records = load_questions("gsm8k-local", "train", data_dir=tmp_path)
    assert [r["id"] for r in records] == ["gsm8k/train/0", "gsm8k/train/1", "gsm8k/train/5"]
    m500 = load_questions("math500-local", "test", data_dir=tmp_path)
    assert [r["id"] for r in m500][0] == "math500/test/test/number_theory/1.json"
    assert [r["gold"] for r in m500] == ["6", "5", r"\frac{1}{4}"]


def test_data_dir_default_is_the_project_data_folder():
    from selfimprove.core.config import env_data_folder

    assert datasets.DEFAULT_DATA_DIR == Path(datasets.__file__).resolve().parents[2] / "data"
    assert env_data_folder({}) == datasets.DEFAULT_DATA_DIR
    assert env_data_folder({"DATA_DIR": ""}) == datasets.DEFAULT_DATA_DIR
    assert env_data_folder({"DATA_DIR": " /somewhere/else "}) == Path("/somewhere/else")


def test_load_errors_for_bad_specs():
    with pytest.raises(DatasetError, match="unknown dataset spec"):
        load_questions("nope", "test")
    with pytest.raises(DatasetError, match="not found"):
        load_questions("file:missing.jsonl", "test")
    with pytest.raises(DatasetError, match="unknown split"):
        load_questions(f"file:{GSM8K_ROWS}", "dev")
    with pytest.raises(DatasetError, match="unknown field 'prompt'"):
        load_questions(f"file:{GSM8K_ROWS}?question=prompt", "test")


# ---------------------------------------------------------------------------- local files


def test_gsm8k_jsonl_mapping_and_malformed_rows():
    records, problems = load_questions_with_report(f"file:{GSM8K_ROWS}", "test")
    assert [r["id"] for r in records] == ["data_gsm8k_rows/test/0", "data_gsm8k_rows/test/1", "data_gsm8k_rows/test/5"]
    assert [r["gold"] for r in records] == ["24", "2400", "6"]
    for r in records:
        assert set(r) == RECORD_KEYS
        assert r["dataset_type"] == "gsm8k" and r["split"] == "test"  # type inferred from ####
        assert r["level"] is None and r["subject"] is None
        assert "####" in r["reference"]
    # one line per bad row, `path:line: reason`; the blank line 3 is not a row
    assert [p.split(": ", 1)[0] for p in problems] == [f"{GSM8K_ROWS}:{n}" for n in (4, 5, 6)]
    assert "invalid JSON" in problems[0]
    assert "missing field 'answer'" in problems[1]
    assert "####" in problems[2]


def test_load_questions_logs_problems_as_warnings(caplog):
    records = load_questions(f"file:{GSM8K_ROWS}?name=tiny", "train")
    assert [r["id"] for r in records] == ["tiny/train/0", "tiny/train/1", "tiny/train/5"]
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 3 and said[0].startswith(f"{GSM8K_ROWS}:4: ")


def test_the_datasets_command_prints_problems_to_stderr_and_records_to_stdout(capsys):
    assert datasets_stage.main([f"file:{GSM8K_ROWS}?name=tiny", "--split", "train"]) == 0
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 3 and err[0].startswith(f"{GSM8K_ROWS}:4: ")
    assert [json.loads(line)["id"] for line in captured.out.splitlines()] == [
        "tiny/train/0",
        "tiny/train/1",
        "tiny/train/5",
    ]


def test_nothing_usable_raises(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q?", "answer": "no answer"}\nnot json\n')
    records, problems = load_questions_with_report(f"file:{bad}", "test")
    assert records == [] and len(problems) == 2
    with pytest.raises(DatasetError, match="no usable"):
        load_questions(f"file:{bad}", "test")


def test_math_jsonl_boxed_gold_levels_subjects():
    records, problems = load_questions_with_report(f"file:{MATH_ROWS}", "test")
    assert [r["gold"] for r in records] == [r"\frac{3}{4}", r"\sqrt{2}", r"{\left\{ 1, -1 \right\}}"]
    assert [r["level"] for r in records] == [1, 2, None]
    assert [r["subject"] for r in records] == ["Prealgebra", "Algebra", "Algebra"]
    assert {r["dataset_type"] for r in records} == {"math"}
    assert [p.split(": ", 1)[0] for p in problems] == [f"{MATH_ROWS}:4", f"{MATH_ROWS}:5"]
    assert all("boxed" in p for p in problems)


def test_math500_style_answer_field_and_source_ids():
    records = load_questions(str(MATH500_ROWS), "test")
    assert [r["id"] for r in records] == [
        "data_math500_rows/test/test/number_theory/1.json",
        "data_math500_rows/test/test/algebra/7.json",
        "data_math500_rows/test/test/algebra/9.json",
    ]
    assert [r["gold"] for r in records] == ["6", "5", r"\frac{1}{4}"]
    assert [r["level"] for r in records] == [2, 1, 3]


def test_explicit_mapping_and_split_field(tmp_path):
    rows = [
        {
            "prompt": "What is 2 + 3?",
            "worked": "2 + 3 = 5, so the answer is 5.",
            "final": "5",
            "difficulty": "Level 2",
            "part": "train",
            "key": "a",
        },
        {"prompt": "What is 4 * 3?", "worked": "4 * 3 = 12.", "final": 12, "difficulty": 3, "part": "test", "key": "b"},
        {"prompt": "What is 9 - 1?", "worked": "9 - 1 = 8.", "final": "8", "difficulty": 1, "part": "test", "key": "c"},
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = (
        f"file:{path}?type=gsm8k&question=prompt&reference=worked&gold=final"
        f"&level=difficulty&id=key&split=part&name=toy"
    )
    test = load_questions(spec, "test")
    assert [(r["id"], r["gold"], r["level"], r["split"]) for r in test] == [
        ("toy/test/b", "12", 3, "test"),
        ("toy/test/c", "8", 1, "test"),
    ]
    train = load_questions(spec, "train")
    assert [r["id"] for r in train] == ["toy/train/a"]
    # without a split mapping the split argument only labels the records
    assert len(load_questions(f"file:{path}?type=gsm8k&question=prompt&reference=worked&gold=final", "train")) == 3


def test_type_required_when_not_inferable(tmp_path):
    path = tmp_path / "bare.jsonl"
    path.write_text(json.dumps({"question": "q?", "answer": 3}) + "\n")
    with pytest.raises(DatasetError, match="type=gsm8k or type=math"):
        load_questions(f"file:{path}", "test")
    assert load_questions(f"file:{path}?type=gsm8k&gold=answer&reference=answer", "test")[0]["gold"] == "3"


def test_json_array_with_line_numbers(tmp_path):
    rows = good_rows(MATH_ROWS)
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows, indent=2))
    records, problems = load_questions_with_report(f"file:{path}", "test")
    assert [r["id"] for r in records] == ["rows/test/0", "rows/test/1", "rows/test/2"]
    text_lines = path.read_text().splitlines()
    for p in problems:
        where = p.split(": ", 1)[0]
        line = int(where.rsplit(":", 1)[1])
        assert text_lines[line - 1].strip() == "{"  # the line where the bad element starts
    assert len(problems) == 2
    # a broken element is reported at its line and skipped; the elements after it still load
    broken = tmp_path / "broken.json"
    broken.write_text('[{"question": "a?", "answer": "#### 1"},\n {oops},\n {"question": "b?", "answer": "#### 2"}]')
    records, problems = load_questions_with_report(f"file:{broken}", "test")
    assert [r["id"] for r in records] == ["broken/test/0", "broken/test/2"]
    assert len(problems) == 1 and problems[0].startswith(f"{broken}:2: invalid JSON")
    # a file whose structure cannot be followed is still an error, with the line
    unterminated = tmp_path / "unterminated.json"
    unterminated.write_text('[{"question": "a?", "answer": "#### 1"},\n {"question": "b')
    with pytest.raises(DatasetError, match=r"unterminated.json:2: invalid JSON"):
        load_questions(f"file:{unterminated}", "test")


def test_parquet_loading(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = good_rows(MATH500_ROWS)
    for r in rows:
        r.pop("split", None)
    path = tmp_path / "m500.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    records = load_questions(f"file:{path}?type=math&id=unique_id", "test")
    assert [r["gold"] for r in records] == ["6", "5", r"\frac{1}{4}"]
    assert records[0]["id"] == "m500/test/test/number_theory/1.json"
    assert records[0]["subject"] == "Number Theory"


def test_duplicate_ids_reported_and_skipped(tmp_path):
    path = tmp_path / "dups.jsonl"
    row = {"question": "q?", "answer": "#### 1", "uid": "same"}
    other = dict(row, uid="other")
    path.write_text("".join(json.dumps(r) + "\n" for r in (row, row, other)))
    records, problems = load_questions_with_report(f"file:{path}?id=uid", "test")
    assert [r["id"] for r in records] == ["dups/test/same", "dups/test/other"]
    assert problems == [f"{path}:2: duplicate id 'dups/test/same' (first at {path}:1)"]


def test_ids_stable_and_unique():
    a = load_questions(f"file:{MATH_ROWS}", "test")
    b = load_questions(f"file:{MATH_ROWS}", "test")
    assert [r["id"] for r in a] == [r["id"] for r in b]
    assert len({r["id"] for r in a}) == len(a)


# ---------------------------------------------------------------------------- limit / shuffle


def test_limit_and_seeded_shuffle():
    spec = "synthetic:60"
    first = load_questions(spec, "train", limit=5)
    assert [r["id"] for r in first] == [f"synthetic/train/{i}" for i in range(5)]
    s1 = load_questions(spec, "train", limit=10, shuffle=True, seed=1)
    assert s1 == load_questions(spec, "train", limit=10, shuffle=True, seed=1)
    assert [r["id"] for r in s1] != [r["id"] for r in first]
    s2 = load_questions(spec, "train", limit=10, shuffle=True, seed=2)
    assert [r["id"] for r in s1] != [r["id"] for r in s2]
    assert len(load_questions(spec, "train", limit=1000)) == 60
    with pytest.raises(DatasetError, match="limit"):
        load_questions(spec, "train", limit=0)


def test_synthetic_default_sizes():
    assert len(load_questions("synthetic", "train")) == 200
    test = load_questions("synthetic", "test")
    assert len(test) == 100 and {r["split"] for r in test} == {"test"}
    assert len(load_questions("synthetic:17", "test")) == 17


def test_synthetic_easy_specs():
    easy = load_questions("synthetic-easy", "train")
    assert len(easy) == 200 and easy[0]["id"] == "synthetic-easy/train/0"
    assert {r["level"] for r in easy} == {1, 2}
    assert load_questions("synthetic:7?difficulty=easy", "test") == load_questions("synthetic-easy:7", "test")
    standard = load_questions("synthetic:7?difficulty=standard", "test")
    assert standard == load_questions("synthetic:7", "test") and standard[0]["id"] == "synthetic/test/0"


# ---------------------------------------------------------------------------- hub (mocked)


def test_hub_mapping_with_math_mirror_fallback(monkeypatch):
    calls = []

    def fake_hub_rows(repo, config, split):
        calls.append(repo)
        if repo == datasets.MATH_HUB_PRIMARY:
            raise ConnectionError("offline")
        return [
            {"problem": "p1?", "solution": r"$\boxed{1}$", "level": "Level 2", "type": "Counting & Probability"},
            {"problem": "p2?", "solution": r"$\boxed{x^{2}}$", "level": "Level 5", "type": "Algebra"},
            {"problem": "p3?", "solution": r"$\boxed{3}$", "level": "Level 1", "type": "Counting & Probability"},
        ]

    monkeypatch.setattr(hub, "hub_rows", fake_hub_rows)
    records = load_questions("math", "train")
    assert calls == [datasets.MATH_HUB_PRIMARY, datasets.MATH_HUB_FALLBACK[0]]
    assert [r["id"] for r in records] == [
        "math/train/counting_and_probability/0",
        "math/train/algebra/0",
        "math/train/counting_and_probability/1",
    ]
    assert [(r["gold"], r["level"]) for r in records] == [("1", 2), ("x^{2}", 5), ("3", 1)]


def test_hub_gsm8k_rows(monkeypatch):
    rows = good_rows(GSM8K_ROWS)
    monkeypatch.setattr(hub, "hub_rows", lambda repo, config, split: rows)
    records, problems = load_questions_with_report("gsm8k", "test")
    assert [r["id"] for r in records] == ["gsm8k/test/0", "gsm8k/test/1", "gsm8k/test/4"]
    assert len(problems) == 2 and problems[0].startswith("openai/gsm8k/test:row 2: ")


def test_hub_failure_is_a_dataset_error(monkeypatch):
    def boom(repo, config, split):
        raise ConnectionError("no network")

    monkeypatch.setattr(hub, "hub_rows", boom)
    with pytest.raises(DatasetError, match="math500"):
        load_questions("math500", "test")
    with pytest.raises(DatasetError, match="no MATH mirror"):
        load_questions("math", "test")


# ---------------------------------------------------------------------------- real data (DATA_DIR)


def test_real_gsm8k_test(require_data):
    folder = require_data("gsm8k/test.jsonl")
    records, problems = load_questions_with_report("gsm8k-local", "test", data_dir=folder)
    assert len(records) == 1319 and problems == []
    assert records[0]["id"] == "gsm8k/test/0" and records[0]["dataset"] == "gsm8k"
    assert all(r["gold"].lstrip("-").replace(".", "", 1).isdigit() for r in records)
    assert "<<" in records[0]["reference"]  # annotations kept by default
    stripped = load_questions("gsm8k-local?annotations=strip", "test", limit=50, data_dir=folder)
    assert all("<<" not in str(r["reference"]) for r in stripped)
    assert [r["gold"] for r in stripped] == [r["gold"] for r in records[:50]]


def test_real_math500(require_data):
    folder = require_data("math500/test.jsonl")
    records, problems = load_questions_with_report("math500-local", "test", data_dir=folder)
    assert len(records) == 500 and problems == []
    assert {r["level"] for r in records} == {1, 2, 3, 4, 5}
    assert all(r["id"].startswith("math500/test/test/") for r in records)
    assert len({r["subject"] for r in records}) == 7
    with pytest.raises(DatasetError, match="only a test split"):
        load_questions("math500-local", "train", data_dir=folder)
