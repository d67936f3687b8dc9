"""The results.json schema: versioned, validated on load, errors that name the JSON path."""

from __future__ import annotations

import copy
import json

import pytest
from test_evaluation_sequential import by_string, records

from selfimprove.evaluation import report as R
from selfimprove.evaluation.metrics import compute_results
from selfimprove.evaluation.schema import SCHEMA_VERSION, SchemaError, validate_results
from selfimprove.stages import report as report_stage


@pytest.fixture(scope="module")
def results():
    questions, pool, chains = records()
    return compute_results(questions, None, pool, None, None, chains, {"sequential_mode": "all"}, vote_fn=by_string)


def write(tmp_path, obj):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(obj))
    return path


def test_computed_results_carry_the_current_version_and_validate(results):
    assert results["schema_version"] == SCHEMA_VERSION == 2
    validate_results(results)


@pytest.mark.parametrize(
    "mutate, path, problem",
    [
        (
            lambda r: r["datasets"]["toy"]["overall"]["response_only"]["pass_at_k"][1].update(value=55.0),
            "datasets.toy.overall.response_only.pass_at_k[1].value",
            "expected a fraction in [0, 1], got 55.0",
        ),
        (lambda r: r.pop("N"), "N", "missing"),
        (
            lambda r: r["datasets"]["toy"]["by_level"]["5"]["critic"].pop("n_samples"),
            "datasets.toy.by_level.5.critic.n_samples",
            "missing",
        ),
        (
            lambda r: r["datasets"]["toy"]["overall"]["sequential"]["final"][0].update(n=-1),
            "datasets.toy.overall.sequential.final[0].n",
            "expected a non-negative integer, got -1",
        ),
        (lambda r: r.update(schema_version=99), "schema_version", "version 99 is newer than this code reads"),
        (lambda r: r["ks"].append("8"), "ks[2]", "expected a non-negative integer, got '8'"),
    ],
)
def test_validator_names_the_path(results, mutate, path, problem):
    bad = copy.deepcopy(results)
    mutate(bad)
    with pytest.raises(SchemaError) as e:
        validate_results(bad)
    assert e.value.path == path
    assert str(e.value) == f"{path}: {problem}" or str(e.value).startswith(f"{path}: {problem}")


def test_report_refuses_an_invalid_file_with_the_path(tmp_path, capsys, results):
    bad = copy.deepcopy(results)
    bad["datasets"]["toy"]["overall"]["critic"]["accuracy_before_refinement"]["value"] = 1.5
    path = write(tmp_path, bad)
    assert report_stage.main(["--results", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: not a valid MathCritique results file: ")
    assert "datasets.toy.overall.critic.accuracy_before_refinement.value: expected a fraction in [0, 1]" in err


def test_version_1_files_still_load_and_render(tmp_path, results):
    old = copy.deepcopy(results)
    old["schema_version"] = 1
    for key in ("chains", "upper_bounds"):
        old.pop(key)
    for ds in old["datasets"].values():
        for block in [ds["overall"], *ds["by_level"].values()]:
            seq = block["sequential"]
            block["sequential"] = {"rounds": seq["rounds"], "final": seq["final"], "mv": seq["mv_rounds_0_to_r"]}
            block.pop("compute_matched_tokens")
    loaded = R.load_results(write(tmp_path, old))
    md = R.write_report([loaded], tmp_path / "out").read_text()
    assert "| MV over rounds 0..r (this project) | 50.0 (n=2) | 50.0 (n=2) | 50.0 (n=2) |" in md
