"""GSM8K calculator annotations: kept in references by default, stripped on request."""

from __future__ import annotations

import pytest

from selfimprove.data.datasets import DatasetError, check_spec, load_questions, strip_calc_annotations
from selfimprove.data.sources import hub

ROWS = [
    {"question": "Tom buys 4 packs of 6 cards. How many cards?", "answer": "4 * 6 = <<4*6=24>>24 cards.\n#### 24"},
    {"question": "Pia pays $9 twice. How much?", "answer": "She pays 9 * 2 = $<<9*2=18>>18.\n#### 18"},
]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4 * 6 = <<4*6=24>>24 cards.", "4 * 6 = 24 cards."),
        ("She pays 9 * 2 = $<<9*2=18>>18.", "She pays 9 * 2 = $18."),
        ("a <<1+1=2>>2, b <<2*3=6>>6\n#### 6", "a 2, b 6\n#### 6"),
        ("no annotation here", "no annotation here"),
        ("x << 2 is a shift", "x << 2 is a shift"),
    ],
)
def test_strip_calc_annotations(text, expected):
    assert strip_calc_annotations(text) == expected


def test_hub_references_keep_annotations_by_default(monkeypatch):
    monkeypatch.setattr(hub, "hub_rows", lambda repo, config, split: ROWS)
    kept = load_questions("gsm8k", "test")
    assert [r["reference"] for r in kept] == [r["answer"] for r in ROWS]
    assert load_questions("gsm8k?annotations=keep", "test") == kept
    stripped = load_questions("gsm8k?annotations=strip", "test")
    assert [r["reference"] for r in stripped] == ["4 * 6 = 24 cards.\n#### 24", "She pays 9 * 2 = $18.\n#### 18"]
    assert [r["gold"] for r in stripped] == ["24", "18"] and [r["id"] for r in stripped] == [r["id"] for r in kept]


def test_file_spec_strip(tmp_path):
    import json

    path = tmp_path / "g.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    recs = load_questions(f"file:{path}?annotations=strip&name=g", "train")
    assert [r["reference"] for r in recs][0] == "4 * 6 = 24 cards.\n#### 24"


def test_synthetic_strip_keeps_step_values():
    kept = load_questions("synthetic-easy:4", "test")
    stripped = load_questions("synthetic-easy:4?annotations=strip", "test")
    for a, b in zip(kept, stripped, strict=True):
        assert "<<" in str(a["reference"]) and "<<" not in str(b["reference"])
        assert [s["text"] for s in b["steps"]] == str(b["reference"]).split("\n")[:-1]
        assert [(s["expr"], s["value"]) for s in b["steps"]] == [(s["expr"], s["value"]) for s in a["steps"]]


@pytest.mark.parametrize("spec", ["gsm8k?annotations=maybe", "synthetic?annotations=", "math500?difficulty=easy"])
def test_bad_options(spec):
    with pytest.raises(DatasetError):
        check_spec(spec)
