"""The run layout (every path and step name spelled once) and the record ids (built and parsed once)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from selfimprove.core import records as R
from selfimprove.core.errors import UsageError
from selfimprove.core.layout import RunLayout, check_experiment_name


def test_iteration_files_and_steps_follow_the_layout(tmp_path):
    lay = RunLayout(tmp_path / "exp")
    assert lay.sft(0) == tmp_path / "exp" / "iter_0" / "sft.json"
    assert lay.sft(2) == tmp_path / "exp" / "iter_2" / "04_sft.json"
    assert [lay.samples(1).name, lay.critiques(1).name, lay.refinements(1).name] == [
        "01_samples.jsonl",
        "02_critiques.jsonl",
        "03_refinements.jsonl",
    ]
    assert (lay.actor(3), lay.actor_partial(3)) == (
        lay.root / "iter_3" / "actor",
        lay.root / "iter_3" / "actor.partial",
    )
    assert lay.questions("test") == lay.root / "data" / "test.jsonl"
    assert [lay.step("sft", 0), lay.step("sft", 1), lay.step("samples", 2), lay.step("train", 0)] == [
        "iter_0/sft",
        "iter_1/04_sft",
        "iter_2/01_samples",
        "iter_0/05_train",
    ]
    assert lay.data_step("train") == "data/train" and lay.eval_step("iter_1") == "eval/iter_1"
    assert lay.eval_file("iter_1", "results") == lay.root / "eval" / "iter_1" / "results.json"
    chain = RunLayout.chain_files(lay.eval_dir("base"), "oracle", 2)
    assert [p.name for p in chain.values()] == [
        "chain_oracle.jsonl",
        "chain_oracle_critiques.jsonl",
        "chain_oracle_round1.jsonl",
        "chain_oracle_round2.jsonl",
    ]
    with pytest.raises(UsageError):
        lay.questions("dev")
    with pytest.raises(UsageError):
        lay.iter_dir(-1)
    (lay.root / "iter_10").mkdir(parents=True)
    (lay.root / "iter_2").mkdir()
    (lay.root / "iter_x").mkdir()
    assert lay.iterations() == [2, 10]


@pytest.mark.parametrize(
    "name", ["../escape", "a/b", "..", ".", "", "-rf", "tab\there", "x" * 201, "a..b", "a b", "x$(id)", "a+b", "é"]
)
def test_unsafe_experiment_names_are_refused(name, tmp_path):
    with pytest.raises(UsageError, match="EXP_NUM="):
        check_experiment_name(name)
    with pytest.raises(UsageError):
        RunLayout.of(tmp_path, name)


def test_an_evaluation_label_is_a_model_folder_name_and_may_hold_other_characters(tmp_path):
    lay = RunLayout(tmp_path)
    assert lay.eval_dir("Qwen2.5-7B+sft v2") == tmp_path / "eval" / "Qwen2.5-7B+sft v2"
    with pytest.raises(UsageError, match="evaluation label='..'"):
        lay.eval_dir("..")


def test_a_safe_name_stays_inside_runs_dir(tmp_path):
    lay = RunLayout.of(tmp_path / "runs", "exp-1_v2.0")
    assert lay.root.parent == (tmp_path / "runs").absolute()


def test_layout_query_for_shell_drivers(tmp_path):
    def q(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "selfimprove", "layout", str(tmp_path), *argv], capture_output=True, text=True
        )

    assert q("actor", "--iter", "1").stdout.strip() == str(tmp_path / "iter_1" / "actor")
    assert q("train").stdout.strip() == str(tmp_path / "data" / "train.jsonl")
    assert q("eval_dir", "--label", "iter_0").stdout.strip() == str(tmp_path / "eval" / "iter_0")
    assert q("sft", "--iter", "0", "--step").stdout.strip() == "iter_0/sft"
    bad = q("actor")
    assert bad.returncode == 2 and bad.stderr == "error: --iter is required for this query\n"
    assert q("nonsense").returncode == 2


# ---------------------------------------------------------------------------------- records
def test_ids_are_built_and_parsed_in_one_place():
    qid = "file-set/train/12"  # question ids hold slashes
    sid = R.sample_id(qid, 3)
    cid = R.critique_id(sid, 0)
    rid = R.refinement_id(cid, 1)
    assert (sid, cid, rid) == ("file-set/train/12/s3", "file-set/train/12/s3/c0", "file-set/train/12/s3/c0/r1")
    assert R.parse_sample_id(sid) == (qid, 3) and R.sample_index(sid) == 3
    assert R.parse_critique_id(cid) == (sid, 0) and R.parse_refinement_id(rid) == (cid, 1)
    assert R.chain_id(qid, 2) == "file-set/train/12/r2" and R.parse_chain_id("q/r2") == ("q", 2)
    assert R.sample_ids("q", 2) == ["q/s0", "q/s1"] and R.critique_ids("q/s0", 1) == ["q/s0/c0"]
    assert R.refinement_ids("q/s0/c0", 2) == ["q/s0/c0/r0", "q/s0/c0/r1"]
    for bad in ("q", "q/s", "q/sx", "/s1"):
        with pytest.raises(ValueError):
            R.parse_sample_id(bad)


def test_natural_order_of_ids():
    ids = ["q/s10/c0/r0", "q/s2/c0/r0", "q/s1/c0/r10", "q/s1/c0/r2"]
    assert sorted(ids, key=R.natural_key) == ["q/s1/c0/r2", "q/s1/c0/r10", "q/s2/c0/r0", "q/s10/c0/r0"]


def test_required_fields_are_fields_of_the_record_types():
    for fields, kind in (
        (R.QUESTION_FIELDS, R.Question),
        (R.SAMPLE_FIELDS, R.Sample),
        (R.CRITIQUE_FIELDS, R.Critique),
        (R.REFINEMENT_FIELDS, R.Refinement),
        (R.CHAIN_FIELDS, R.ChainStep),
    ):
        assert set(fields) <= set(kind.__annotations__), kind.__name__


def test_no_file_name_of_a_run_is_spelled_outside_the_layout():
    root = Path(__file__).resolve().parent.parent / "selfimprove"
    mine = [root / "stages" / f"{n}.py" for n in ("prepare", "sample", "critique", "refine")]
    for path in mine:
        text = path.read_text()
        for name in ("01_samples.jsonl", "02_critiques.jsonl", "03_refinements.jsonl", "sft.json", "train.jsonl"):
            code = "\n".join(line for line in text.split('"""')[2:])  # after the docstring
            assert f'"{name}"' not in code, (path.name, name)
