"""The run layout (every path and step name spelled once) and the record ids (built and parsed once)."""

from __future__ import annotations

import ast
import re
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


#: modules that read or write files of a run (their names come from the layout)
RUN_FILE_USERS = [
    "stages/prepare.py",
    "stages/sample.py",
    "stages/critique.py",
    "stages/refine.py",
    "stages/critic_eval.py",
    "stages/critic_curve.py",
    "stages/compare.py",
    "stages/exploration.py",
    "stages/selftalk_eval.py",
    "stages/selftalk_report.py",
    "stages/sweep.py",
    "critic/evaluate.py",
    "critic/report.py",
    "critic/curve.py",
    "selftalk/rows.py",
    "selftalk/selfcorrect.py",
    "evaluation/exploration.py",
    "evaluation/exploration_report.py",
    "evaluation/compare.py",
    "evaluation/compare_data.py",
    "evaluation/compare_report.py",
    "core/sweep.py",
    "generation/shard.py",
]
RUN_FILE = re.compile(r"^\S*\.(jsonl|json|md|png|claim)$")  # a name, not a sentence (help texts name files too)


def spelled_file_names(path: Path) -> list[str]:
    """String constants without spaces (f-string parts included, docstrings not) that end like a file of a run."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and RUN_FILE.search(node.value)
    ]


def test_no_file_name_of_a_run_is_spelled_outside_the_layout():
    root = Path(__file__).resolve().parent.parent / "selfimprove"
    found = {rel: spelled_file_names(root / rel) for rel in RUN_FILE_USERS}
    assert {rel: names for rel, names in found.items() if names} == {}


def test_the_checker_sees_plain_and_formatted_names(tmp_path):
    f = tmp_path / "m.py"
    f.write_text('"""Writes x.json."""\nA = "row.json"\nB = f"{tag}_checks.jsonl"\nC = "no file"\n')
    assert spelled_file_names(f) == ["row.json", "_checks.jsonl"]


def test_every_file_of_a_run_has_its_place(tmp_path):
    lay = RunLayout(tmp_path / "exp")
    ev = lay.critic_eval_dir
    assert ev == tmp_path / "exp" / "critic" / "eval"
    assert RunLayout.critic_eval_file(ev, "responses") == ev / "responses.jsonl"
    assert RunLayout.critic_eval_file(ev, "critiques", critic="trained") == ev / "trained" / "critiques.jsonl"
    assert RunLayout.critic_curve_file(tmp_path, "plot") == tmp_path / "critic_curve.png"
    row = tmp_path / "eval_onep" / "selfcorrect"
    assert RunLayout.onep_file(row, "checks", "pool") == row / "pool_checks.jsonl"
    assert RunLayout.onep_file(row, "row") == row / "row.json"
    with pytest.raises(UsageError, match="needs a tag"):
        RunLayout.onep_file(row, "critiques")
    assert RunLayout.exploration_file(tmp_path, "kept", "exploration_") == tmp_path / "exploration_kept_by_level.png"
    assert RunLayout.exploration_file(tmp_path, "analysis", "exploration_") == tmp_path / "exploration.json"
    assert RunLayout.comparison_file(tmp_path, "comparison") == tmp_path / "comparison.json"
    out = lay.samples(1)
    assert RunLayout.shard_file(out, "2-of-5", "records") == lay.iter_dir(1) / "01_samples.shards" / "2-of-5.jsonl"
    assert RunLayout.shard_file(out, "2-of-5", "status").name == "2-of-5.status.json"
    assert RunLayout.sweep_state(tmp_path) == tmp_path / "sweep.json"
    with pytest.raises(UsageError, match="unknown comparison file"):
        RunLayout.comparison_file(tmp_path, "nothing")
