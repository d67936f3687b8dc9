"""The released feedback examples: feedback_files() and scripts/fetch_feedback.py (no network)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from selfimprove.data.feedback import FeedbackFilesMissing, check_alpaca_rows, feedback_files
from selfimprove.stages import feedback as feedback_stage

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location("fetch_feedback", ROOT / "scripts" / "fetch_feedback.py")
assert SPEC is not None and SPEC.loader is not None
fetch = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(fetch)

GSM_ROWS = [
    {
        "instruction": "Lia has 3 jars of 4 buttons. How many buttons?\n\nAssistant:3 + 4 = 7\nThe answer is 7.\n"
        "Human: critique...\nStep sentence: 3 + 4 = 7\nCorrectness of the step: Wrong\n",
        "input": "",
        "output": "3 jars of 4 buttons is 3 * 4 = <<3*4=12>>12 buttons.\nThe answer is 12.",
    },
    {
        "instruction": "Ben reads 5 pages a day for 6 days. Pages?\n\nAssistant:5 * 6 = 30\nThe answer is 30.\n",
        "input": "",
        "output": "5 * 6 = <<5*6=30>>30 pages.\nThe answer is 30.",
    },
]
MATH_ROWS = [{"instruction": "Solve $x+1=3$.\n\nAssistant:$x=4$", "input": "", "output": "$x = \\boxed{2}$"}]


def dump(rows) -> bytes:
    return json.dumps(rows, indent=2).encode()


@pytest.fixture
def release(tmp_path) -> Path:
    """A folder holding the two files under their upstream names."""
    folder = tmp_path / "release"
    folder.mkdir()
    (folder / fetch.UPSTREAM_NAMES["gsm8k"]).write_bytes(dump(GSM_ROWS))
    (folder / fetch.UPSTREAM_NAMES["math"]).write_bytes(dump(MATH_ROWS))
    return folder


# ---------------------------------------------------------------------------- fetch script


def test_from_dir_places_both_files_byte_for_byte(release, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    assert fetch.main(["--from", str(release)]) == 0
    dest = tmp_path / "data" / "mathcritique-samples"
    assert (dest / "gsm8k-critique-refine-100.json").read_bytes() == dump(GSM_ROWS)
    assert (dest / "math-critique-refine-100.json").read_bytes() == dump(MATH_ROWS)
    assert sorted(p.name for p in dest.iterdir()) == ["gsm8k-critique-refine-100.json", "math-critique-refine-100.json"]
    out = capsys.readouterr().out
    assert "gsm8k: 2 rows" in out and "(note: 2 rows, the release has 100)" in out
    # the helper now finds them, GSM8K first
    assert feedback_files(["math", "gsm8k"], tmp_path / "data") == [
        dest / "math-critique-refine-100.json",
        dest / "gsm8k-critique-refine-100.json",
    ]
    # a rerun changes nothing
    assert fetch.main(["--from", str(release)]) == 0
    assert "already in place" in capsys.readouterr().out


def test_existing_different_file_needs_force(release, tmp_path, capsys):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "gsm8k-critique-refine-100.json").write_text("[]")
    assert fetch.main(["--from", str(release), "--dest", str(dest)]) == 1
    assert "--force" in capsys.readouterr().err
    assert (dest / "gsm8k-critique-refine-100.json").read_text() == "[]"
    assert not (dest / "math-critique-refine-100.json").exists()  # nothing written before the check
    assert fetch.main(["--from", str(release), "--dest", str(dest), "--force"]) == 0
    assert (dest / "gsm8k-critique-refine-100.json").read_bytes() == dump(GSM_ROWS)


@pytest.mark.parametrize(
    "content, words",
    [
        (b'{"instruction": "x"}', "expected a JSON array"),
        (b"[]", "the array is empty"),
        (dump([{"instruction": "q", "input": ""}]), "'output' must be a non-empty string"),
        (dump([{"instruction": "q", "input": 3, "output": "a"}]), "'input' must be a string"),
        (dump(["just text"]), "expected an object"),
        (b'[{"instruction": "q", "output": "a"', "invalid JSON"),
        (b'[{"instruction": "caf\xe9", "output": "a"}]', "not UTF-8"),
        (b'[{"instruction": "\\ud800", "output": "a"}]', "lone surrogate"),
    ],
)
def test_bad_shapes_are_refused(tmp_path, content, words, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "gsm8k-critique-refine-100.json").write_bytes(content)
    dest = tmp_path / "dest"
    assert fetch.main(["--from", str(src), "--types", "gsm8k", "--dest", str(dest)]) == 1
    assert words in capsys.readouterr().err
    assert not dest.exists() or not any(dest.iterdir())


def test_missing_file_is_named(release, tmp_path, capsys):
    (release / fetch.UPSTREAM_NAMES["math"]).unlink()
    assert fetch.main(["--from", str(release), "--dest", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert "not found for math" in err and "math-critique-refine-100.json" in err
    assert fetch.main(["--from", str(release), "--dest", str(tmp_path / "d"), "--types", "gsm8k"]) == 0


def test_urls_folder_and_typed_forms(release, tmp_path):
    """--url with file:// URLs (urllib's local scheme): a folder URL, and TYPE=URL."""
    dest = tmp_path / "d1"
    assert fetch.main(["--url", release.as_uri(), "--dest", str(dest)]) == 0
    assert (dest / "math-critique-refine-100.json").read_bytes() == dump(MATH_ROWS)
    dest2 = tmp_path / "d2"
    args = ["--dest", str(dest2)]
    args += ["--url", f"gsm8k={(release / fetch.UPSTREAM_NAMES['gsm8k']).as_uri()}"]
    args += ["--url", (release / fetch.UPSTREAM_NAMES["math"]).as_uri()]  # type from the name
    assert fetch.main(args) == 0
    assert (dest2 / "gsm8k-critique-refine-100.json").read_bytes() == dump(GSM_ROWS)


def test_unreachable_url_is_an_error(tmp_path, capsys):
    missing = (tmp_path / "nothing" / "gsm8k.json").as_uri()
    assert fetch.main(["--url", missing, "--types", "gsm8k", "--dest", str(tmp_path / "d")]) == 1
    assert "cannot download" in capsys.readouterr().err


# ---------------------------------------------------------------------------- feedback_files


def test_feedback_files_one_missing_and_none(tmp_path, caplog):
    folder = tmp_path / "mathcritique-samples"
    folder.mkdir()
    (folder / "gsm8k-critique-refine-100.json").write_bytes(dump(GSM_ROWS))
    assert feedback_files(["gsm8k", "math", "gsm8k"], base=tmp_path) == [folder / "gsm8k-critique-refine-100.json"]
    assert "math-critique-refine-100.json not found" in caplog.text
    with pytest.raises(FeedbackFilesMissing) as exc:
        feedback_files(["math"], base=tmp_path)
    assert "math-critique-refine-100.json" in str(exc.value) and "fetch_feedback.py" in str(exc.value)
    with pytest.raises(ValueError, match="unknown dataset type"):
        feedback_files(["gsm9k"], base=tmp_path)


def test_feedback_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert feedback_stage.main(["gsm8k", "math"]) == 1
    assert "no feedback file found" in capsys.readouterr().err
    (tmp_path / "mathcritique-samples").mkdir()
    (tmp_path / "mathcritique-samples" / "math-critique-refine-100.json").write_bytes(dump(MATH_ROWS))
    assert feedback_stage.main(["math"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "mathcritique-samples" / "math-critique-refine-100.json")


def test_real_feedback_files_have_the_alpaca_shape(require_data):
    base = require_data(
        "mathcritique-samples/gsm8k-critique-refine-100.json", "mathcritique-samples/math-critique-refine-100.json"
    )
    for path in feedback_files(["gsm8k", "math"], base=base):
        rows = json.loads(path.read_text(encoding="utf-8"))
        assert check_alpaca_rows(rows, str(path)) == [] and len(rows) == 100
