"""One poison row never takes a dataset load down: it becomes a `path:line: reason` report.

Every fixture here is written by the test itself (deep JSON, lone surrogates, bytes that are not
UTF-8, bad ids, oversized lines), next to good rows that must still load.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfimprove.core.io import atomic_write_jsonl
from selfimprove.data import records as records_mod
from selfimprove.data.datasets import load_questions, load_questions_with_report
from selfimprove.data.sources import files, hub

GOOD_A = {"question": "Ann has 2 cats and gets 3 more. How many cats?", "answer": "2 + 3 = <<2+3=5>>5\n#### 5"}
GOOD_B = {"question": "Bo has 9 hats and loses 4. How many hats?", "answer": "9 - 4 = <<9-4=5>>5\n#### 5"}


def line(obj: dict) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def write(path: Path, *chunks: bytes) -> Path:
    path.write_bytes(b"".join(chunks))
    return path


def load(path: Path, split: str = "test") -> tuple[list[dict], list[str]]:
    return load_questions_with_report(f"file:{path}?type=gsm8k", split)


def where(problem: str) -> str:
    return problem.split(": ", 1)[0]


def test_deep_json_line_is_reported(tmp_path):
    deep = b"[" * 100_000 + b"]" * 100_000 + b"\n"
    path = write(tmp_path / "deep.jsonl", line(GOOD_A), deep, line(GOOD_B))
    recs, problems = load(path)
    assert [r["id"] for r in recs] == ["deep/test/0", "deep/test/2"]
    assert problems == [f"{path}:2: JSON nested deeper than {files.MAX_JSON_DEPTH} levels"]


def test_deep_json_object_in_a_field_is_reported(tmp_path):
    deep = b'{"question": ' + b"[" * 100_000 + b"]" * 100_000 + b', "answer": "#### 1"}\n'
    path = write(tmp_path / "deepfield.jsonl", deep, line(GOOD_A))
    recs, problems = load(path)
    assert [r["id"] for r in recs] == ["deepfield/test/1"]
    assert len(problems) == 1 and problems[0].startswith(f"{path}:1: JSON nested deeper")


def test_deep_json_element_of_an_array_file(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "deep.json"
    path.write_text(f"[{json.dumps(GOOD_A)},\n{deep},\n{json.dumps(GOOD_B)}]")
    recs, problems = load(path)
    assert [r["id"] for r in recs] == ["deep/test/0", "deep/test/2"]
    assert problems == [f"{path}:2: JSON nested too deep"]


def test_depth_scan_ignores_brackets_inside_strings():
    assert not files.json_depth_exceeds(json.dumps({"q": "[" * 500 + "{" * 500}))
    assert files.json_depth_exceeds("[" * 65 + "]" * 65)
    assert not files.json_depth_exceeds("[" * 64 + "]" * 64)


def test_lone_surrogate_is_reported_and_output_stays_writable(tmp_path):
    bad = b'{"question": "What is \\ud800 plus 1?", "answer": "#### 2"}\n'
    path = write(tmp_path / "sur.jsonl", line(GOOD_A), bad, line(GOOD_B))
    recs, problems = load(path)
    assert [r["id"] for r in recs] == ["sur/test/0", "sur/test/2"]
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:2: field 'question' holds a lone surrogate (U+D800)")
    atomic_write_jsonl(tmp_path / "out.jsonl", recs)  # would raise UnicodeEncodeError before


def test_lone_surrogate_in_id_and_subject(tmp_path):
    rows = [
        b'{"question": "q1?", "answer": "#### 1", "uid": "a\\udfff"}\n',
        b'{"question": "q2?", "answer": "#### 2", "uid": "b", "subject": "\\ud83d"}\n',
        b'{"question": "q3?", "answer": "#### 3", "uid": "c"}\n',
    ]
    path = write(tmp_path / "sur2.jsonl", *rows)
    recs, problems = load_questions_with_report(f"file:{path}?type=gsm8k&id=uid", "test")
    assert [r["id"] for r in recs] == ["sur2/test/c"]
    assert [where(p) for p in problems] == [f"{path}:1", f"{path}:2"]
    assert all("lone surrogate" in p for p in problems)


def test_non_utf8_bytes_are_replaced_and_reported(tmp_path):
    bad = b'{"question": "Caf\xe9 sells 4 cakes and 2 pies. How many?", "answer": "#### 6"}\n'
    path = write(tmp_path / "latin.jsonl", line(GOOD_A), bad, line(GOOD_B))
    recs, problems = load(path)
    assert [r["id"] for r in recs] == ["latin/test/0", "latin/test/1", "latin/test/2"]
    assert recs[1]["question"].startswith("Caf\ufffd sells")
    assert len(problems) == 1 and problems[0].startswith(f"{path}:2: invalid UTF-8 bytes")
    assert "row kept" in problems[0]


def test_non_utf8_bytes_in_an_array_file(tmp_path):
    path = tmp_path / "latin.json"
    body = f"[\n{json.dumps(GOOD_A)},\n".encode() + b'{"question": "Na\xefve q?", "answer": "#### 3"}\n]'
    path.write_bytes(body)
    recs, problems = load(path)
    assert [r["gold"] for r in recs] == ["5", "3"] and "\ufffd" in recs[1]["question"]
    assert len(problems) == 1 and problems[0].startswith(f"{path}:3: invalid UTF-8 bytes")


@pytest.mark.parametrize(
    "uid, reason",
    [
        (7, "id field 'uid' is not a string (int)"),
        ("", "id field 'uid' is empty"),
        ("   ", "id field 'uid' is empty"),
        (None, "id field 'uid' is missing"),
        (["x"], "id field 'uid' is not a string (list)"),
    ],
)
def test_ids_must_be_non_empty_strings(tmp_path, uid, reason):
    path = tmp_path / "ids.jsonl"
    rows = [dict(GOOD_A, uid="ok"), dict(GOOD_B, uid=uid)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recs, problems = load_questions_with_report(f"file:{path}?id=uid", "test")
    assert [r["id"] for r in recs] == ["ids/test/ok"]
    assert problems == [f"{path}:2: {reason}"]


def test_oversized_line_is_skipped_without_stopping(tmp_path):
    huge = json.dumps({"question": "x" * (files.MAX_LINE_BYTES + 10), "answer": "#### 1"}).encode() + b"\n"
    path = write(tmp_path / "big.jsonl", line(GOOD_A), huge, line(GOOD_B))
    recs, problems = load(path)
    assert [r["id"] for r in recs] == ["big/test/0", "big/test/2"]  # ids keep their row index
    assert len(problems) == 1 and problems[0].startswith(f"{path}:2: line of {len(huge):,} bytes is longer")


def test_oversized_last_line_without_newline(tmp_path):
    path = write(tmp_path / "tail.jsonl", line(GOOD_A), b'{"question": "' + b"y" * (files.MAX_LINE_BYTES + 5))
    recs, problems = load(path)
    assert len(recs) == 1 and len(problems) == 1 and problems[0].startswith(f"{path}:2: line of")


def test_oversized_hub_row_is_reported(monkeypatch):
    rows = [
        {"question": "q" * (records_mod.MAX_ROW_CHARS + 1), "answer": "#### 1"},
        GOOD_A,
    ]
    monkeypatch.setattr(hub, "hub_rows", lambda repo, config, split: rows)
    recs, problems = load_questions_with_report("gsm8k", "test")
    assert [r["id"] for r in recs] == ["gsm8k/test/1"]
    assert len(problems) == 1 and "characters (limit 1,000,000)" in problems[0]
    assert problems[0].startswith("openai/gsm8k/test:row 0: ")


def test_unexpected_error_in_one_row_is_reported(tmp_path, monkeypatch):
    real = records_mod.make_record

    def flaky(row, key, *args):
        if key == "1":
            raise TypeError("something odd")
        return real(row, key, *args)

    monkeypatch.setattr(records_mod, "make_record", flaky)
    path = write(tmp_path / "odd.jsonl", line(GOOD_A), line(GOOD_B))
    recs, problems = load(path)
    assert [r["id"] for r in recs] == ["odd/test/0"]
    assert problems == [f"{path}:2: cannot use this row (TypeError: something odd)"]


def test_hub_row_that_is_not_a_mapping(monkeypatch):
    monkeypatch.setattr(hub, "hub_rows", lambda repo, config, split: [GOOD_A, "junk", GOOD_B])
    recs, problems = load_questions_with_report("gsm8k", "train")
    assert [r["id"] for r in recs] == ["gsm8k/train/0", "gsm8k/train/2"]
    assert problems == ["openai/gsm8k/train:row 1: not a mapping"]


def test_prepare_stage_survives_poison_rows(tmp_path, capsys, caplog):
    """The prepare stage writes the good records of a file holding each poison row."""
    from selfimprove.stages import prepare

    path = write(
        tmp_path / "poison.jsonl",
        line(GOOD_A),
        b"[" * 100_000 + b"\n",
        b'{"question": "\\ud800?", "answer": "#### 1"}\n',
        b'{"question": "\xff\xfe 5 + 1?", "answer": "#### 6"}\n',
        line(GOOD_B),
    )
    out = tmp_path / "questions.jsonl"
    assert prepare.main(["--dataset", f"file:{path}?type=gsm8k", "--split", "test", "--out", str(out)]) == 0
    written = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in written] == ["poison/test/0", "poison/test/3", "poison/test/4"]
    err = capsys.readouterr().err + caplog.text  # the stage reports skipped rows on stderr or its log
    assert f"{path}:2: JSON nested" in err and f"{path}:3: field 'question' holds a lone surrogate" in err
    assert f"{path}:4: invalid UTF-8" in err


def test_prepare_counts_kept_and_skipped_rows_truthfully(tmp_path, caplog):
    """A row used with its bytes replaced is counted and reported as kept, never as skipped."""
    from selfimprove.core import manifest
    from selfimprove.stages import prepare

    path = write(
        tmp_path / "mixed.jsonl",
        line(GOOD_A),
        b"{oops\n",
        b'{"question": "\xff\xfe 5 + 1?", "answer": "#### 6"}\n',
        b'{"question": "\xff no answer here"}\n',
        line(GOOD_B),
    )
    spec, run = f"file:{path}?type=gsm8k", tmp_path / "run"
    with caplog.at_level("WARNING", logger="selfimprove"):
        assert prepare.main(["--dataset", spec, "--split", "test", "--run-dir", str(run)]) == 0
    counts = manifest.read(run)["steps"]["data/test"]["counts"]
    assert counts == {spec: 3, f"{spec}_skipped": 2, f"{spec}_kept_with_notes": 1, "questions": 3}
    lines = [r.getMessage() for r in caplog.records]
    assert f"skipped: {path}:2: invalid JSON" in "\n".join(lines)
    assert any(m.startswith(f"skipped: {path}:4: ") for m in lines)  # bytes replaced, then skipped: once
    kept = [m for m in lines if f"{path}:3:" in m]
    assert kept == [f"{path}:3: invalid UTF-8 bytes (first at byte 14) replaced with U+FFFD; row kept"]
    assert not [m for m in lines if f"{path}:4: invalid UTF-8" in m]
    # a seeded subset counts only the noted rows it takes
    for limit in ("1", "3"):
        out = tmp_path / f"subset{limit}.jsonl"
        argv = ["--dataset", spec, "--split", "test", "--limit", limit, "--out", str(out), "--run-dir", str(run)]
        assert prepare.main([*argv, "--step", f"subset{limit}"]) == 0
        taken = [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()]
        noted = manifest.read(run)["steps"][f"subset{limit}"]["counts"][f"{spec}_kept_with_notes"]
        assert noted == int("mixed/test/2" in taken)


def test_load_questions_still_raises_when_nothing_is_usable(tmp_path):
    path = write(tmp_path / "allbad.jsonl", b"[" * 1000 + b"\n", b'{"question": "\\ud800", "answer": "#### 1"}\n')
    with pytest.raises(ValueError, match="no usable test records"):
        load_questions(f"file:{path}?type=gsm8k", "test")
