"""Sweep presets: grid expansion, cell names, the layering of knobs, scales, and sweep.json bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfimprove.core import config as C
from selfimprove.core import grid
from selfimprove.core import sweep as S
from selfimprove.core.errors import UsageError
from selfimprove.core.layout import check_experiment_name

ROOT = Path(__file__).resolve().parent.parent
KNOWN = grid.known_knobs()


def preset(tmp_path: Path, text: str, name: str = "exp") -> Path:
    p = tmp_path / f"{name}.env"
    p.write_text(text)
    return p


def cells(tmp_path: Path, text: str, scale: str = "tiny", env: dict | None = None, name: str = "exp"):
    sw = grid.read_sweep(preset(tmp_path, text, name), scale, KNOWN)
    return grid.expand(sw, tmp_path / "runs" / sw.name, env or {})


# ---------------------------------------------------------------------- expansion and names
def test_every_combination_is_one_cell_last_axis_fastest(tmp_path):
    cs = cells(tmp_path, 'GRID="USE_CRITIC=0,1 sample_num=1,3,10"\n', name="fig")
    assert [c.name for c in cs] == [
        "fig_USE_CRITIC-0_sample_num-1",
        "fig_USE_CRITIC-0_sample_num-3",
        "fig_USE_CRITIC-0_sample_num-10",
        "fig_USE_CRITIC-1_sample_num-1",
        "fig_USE_CRITIC-1_sample_num-3",
        "fig_USE_CRITIC-1_sample_num-10",
    ]
    assert cs[4].values == {"USE_CRITIC": "1", "sample_num": "3"}
    knobs = cs[4].knobs["inference"]
    assert (knobs["USE_CRITIC"], knobs["sample_num"]) == ("1", "3")
    assert knobs["EXP_NUM"] == cs[4].name and knobs["RUNS_DIR"] == str(tmp_path / "runs" / "fig")


def test_no_grid_is_one_cell_named_after_the_sweep(tmp_path):
    (only,) = cells(tmp_path, "ITER_NUM=2\n", name="single")
    assert only.name == "single" and only.values == {} and only.knobs["inference"]["ITER_NUM"] == "2"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Qwen/Qwen2.5-7B-Instruct", "Qwen-Qwen2.5-7B-Instruct"),
        ("../models/x", "models-x"),
        ("a..b", "a.b"),
        ("synthetic-easy:50", "synthetic-easy-50"),
        ("0.7", "0.7"),
        ("1e+5", "1e-5"),  # a cell name is an EXP_NUM: no '+'
        ("///", "x"),
    ],
)
def test_grid_values_become_safe_labels(value, expected):
    assert grid.label(value) == expected
    check_experiment_name(f"sweep_axis-{grid.label(value)}")


def test_a_long_value_is_cut_to_forty_characters():
    assert len(grid.label("m" * 300)) == 40


def test_a_path_value_keeps_its_full_value_in_the_knob(tmp_path):
    (c,) = cells(tmp_path, 'GRID="critic_model_name=runs/c1/critic/model"\n')
    assert c.name == "exp_critic_model_name-runs-c1-critic-model"
    assert c.knobs["inference"]["critic_model_name"] == "runs/c1/critic/model"


def test_two_values_with_one_label_are_refused(tmp_path):
    with pytest.raises(UsageError, match="two values share a name"):
        cells(tmp_path, 'GRID="model_name=a/b,a-b"\n')


# ---------------------------------------------------------------------- cases and drivers
CASES = """\
SWEEP_DRIVERS="inference evaluate"
GRID="method=sft,loop"
ITER_NUM=3
method[sft]="ITER_NUM=0 evaluate.MV_NUM=0"
method[loop]="USE_CRITIC=1 SWEEP_DRIVERS='selftalk evaluate' evaluate.ACTOR_MODELS={run}/m"
evaluate.EVAL_ITERS={ITER_NUM}
"""


def test_cases_set_several_knobs_drivers_and_placeholders(tmp_path):
    sft, loop = cells(tmp_path, CASES, name="t3")
    assert (sft.name, loop.name) == ("t3_method-sft", "t3_method-loop")
    assert sft.drivers == ("inference", "evaluate") and loop.drivers == ("selftalk", "evaluate")
    assert sft.knobs["inference"]["ITER_NUM"] == "0" and sft.knobs["inference"]["EVALUATE"] == "0"
    assert sft.knobs["evaluate"]["EVAL_ITERS"] == "0"  # the case's ITER_NUM, filled in
    assert sft.knobs["evaluate"]["MV_NUM"] == "0" and "MV_NUM" not in sft.knobs["inference"]
    assert loop.knobs["evaluate"]["EVAL_ITERS"] == "3"
    assert loop.knobs["evaluate"]["ACTOR_MODELS"] == str(tmp_path / "runs" / "t3" / "t3_method-loop" / "m")
    assert "EVALUATE" not in loop.knobs["selftalk"]  # only the inference driver runs the evaluation itself


def test_a_placeholder_falls_back_to_the_environment_then_the_default(tmp_path):
    text = 'SWEEP_DRIVERS=evaluate\nACTOR_MODELS={model_name}\nGRID="TEST_KNOW_ANSWER=0,1"\n'
    c = cells(tmp_path, text)[0]
    assert c.knobs["evaluate"]["ACTOR_MODELS"] == str(C.ROOT / "models" / "SmolLM2-135M-Instruct")
    c = cells(tmp_path, text, env={"model_name": "/m/other"})[0]
    assert c.knobs["evaluate"]["ACTOR_MODELS"] == "/m/other"


def test_a_placeholder_of_nothing_is_refused(tmp_path):
    with pytest.raises(UsageError, match=r"\{NOPE\} names no knob"):
        cells(tmp_path, "EVAL_ITERS={NOPE}\n")


def test_cases_that_name_different_drivers_cannot_meet_in_one_cell(tmp_path):
    text = 'GRID="a=x b=y"\na[x]="SWEEP_DRIVERS=evaluate"\nb[y]="SWEEP_DRIVERS=inference"\n'
    with pytest.raises(UsageError, match="different SWEEP_DRIVERS"):
        cells(tmp_path, text)


# ---------------------------------------------------------------------- layering
LAYERS = """\
SWEEP_DRIVERS="inference evaluate"
GRID="sample_num=5"
temperature=0.5
test_limit=10
sample_num=2
evaluate.sample_num=4
"""


def test_preset_then_environment_then_grid_then_the_drivers_own_lines(tmp_path):
    (c,) = cells(tmp_path, LAYERS, env={"temperature": "0.9", "sample_num": "7"})
    inf, ev = c.knobs["inference"], c.knobs["evaluate"]
    assert inf["temperature"] == ev["temperature"] == "0.9"  # the environment beats the preset's line
    assert inf["test_limit"] == "10"  # the preset's line where the environment is silent
    assert inf["sample_num"] == "5"  # the grid beats the environment
    assert ev["sample_num"] == "4"  # the driver's own line beats the grid


def test_scale_sections_apply_after_the_common_lines(tmp_path):
    text = 'GRID="sample_num=1,3"\ntest_limit=5\n[paper]\nGRID="sample_num=1,3,5,10"\n[tiny]\ntest_limit=2\n'
    tiny = cells(tmp_path, text, "tiny")
    paper = cells(tmp_path, text, "paper")
    assert len(tiny) == 2 and tiny[0].knobs["inference"]["test_limit"] == "2"
    assert len(paper) == 4 and paper[0].knobs["inference"]["test_limit"] == "5"


@pytest.mark.parametrize(
    "text, scale, message",
    [
        ("[tiny]\nITER_NUM=1\n", "paper", r"no \[paper\] section"),
        ("[huge]\nITER_NUM=1\n", "tiny", r"unknown section \[huge\]"),
        ("sampel_num=3\n", "tiny", "unknown knob sampel_num"),
        ("trainer.ITER_NUM=1\n", "tiny", "is not KNOB or DRIVER.KNOB"),
        ("just words\n", "tiny", "expected KEY=VALUE"),
        ('GRID="sample_num"\n', "tiny", "is not AXIS=VALUE"),
        ('GRID="sample_num=1 sample_num=2"\n', "tiny", "twice"),
        ('GRID="method=a"\n', "tiny", "neither a knob nor defined"),
        ('GRID="method=a,b"\nmethod[a]="ITER_NUM=1"\n', "tiny", r"no method\[b\]"),
        ('method[a]="ITER_NUM"\n', "tiny", "is not KEY=VALUE"),
        ("SWEEP_DRIVERS=train\n", "tiny", "expected some of"),
        ("SWEEP_NAME=../up\n", "tiny", "SWEEP_NAME"),
        ("ITER_NUM=1\n", "huge", "SCALE='huge'"),
    ],
)
def test_bad_presets_are_refused_with_the_line(tmp_path, text, scale, message):
    with pytest.raises(UsageError, match=message):
        cells(tmp_path, text, scale)


def test_driver_scripts_declare_their_own_knobs(tmp_path):
    (tmp_path / "selftalk-all.sh").write_text(
        '#   sft     fine-tune the base model\n: "${MAX_ROUNDS:=3}"   # rewrites\n'
    )
    (tmp_path / "critic-all.sh").write_text(
        "#   paths        flawed reasoning paths\n# ------ knobs\n#   MC_SAMPLES                refinements per critique\n"
    )
    known = grid.known_knobs(grid.DRIVERS, tmp_path)
    assert {"MAX_ROUNDS", "MC_SAMPLES", "sample_num", "PRESET"} <= known
    assert not {"sft", "paths"} & known  # the scripts' descriptions of their steps are not knobs


# ---------------------------------------------------------------------- the shipped presets
@pytest.mark.parametrize(
    "name, scale, count, drivers",
    [
        ("fig6", "paper", 8, {"inference", "evaluate"}),
        ("fig6", "tiny", 4, {"inference", "evaluate"}),
        ("table3", "paper", 4, {"inference", "evaluate", "selftalk"}),
        ("table3", "tiny", 4, {"inference", "evaluate", "selftalk"}),
        ("table2", "paper", 4, {"inference", "evaluate", "critic"}),
        ("table2", "tiny", 2, {"evaluate", "critic"}),
        ("figE", "paper", 8, {"evaluate"}),
        ("figE", "tiny", 2, {"evaluate"}),
        ("critic_curve", "paper", 4, {"critic"}),
        ("critic_curve", "tiny", 4, {"critic"}),
    ],
)
def test_the_paper_presets_expand(tmp_path, name, scale, count, drivers):
    sw = grid.read_sweep(C.preset_path(name), scale)
    cs = grid.expand(sw, tmp_path / name, {})
    assert len(cs) == count and len({c.name for c in cs}) == count
    assert {d for c in cs for d in c.drivers} == drivers
    for c in cs:
        check_experiment_name(c.name)
        assert c.name.startswith(f"{name}_")


def test_fig6_is_vanilla_and_critique_over_n_with_three_iterations(tmp_path):
    cs = grid.expand(grid.read_sweep(C.preset_path("fig6"), "paper"), tmp_path, {})
    seen = {(c.knobs["inference"]["USE_CRITIC"], c.knobs["inference"]["sample_num"]) for c in cs}
    assert seen == {(u, n) for u in "01" for n in ("1", "3", "5", "10")}
    assert {c.knobs["inference"]["ITER_NUM"] for c in cs} == {"3"}
    assert {c.knobs["inference"]["PRESET"] for c in cs} == {"selfimprove/presets/llama3-8b.env"}


def test_table2_critiques_the_greedy_answer_of_the_llama3_sft_actor(tmp_path):
    cs = grid.expand(grid.read_sweep(C.preset_path("table2"), "paper"), tmp_path, {})
    for c in cs:
        # the Llama-3-8B preset's iteration 0 (SFT) is trained in the cell, then its actor evaluated
        assert c.drivers[-2:] == ("inference", "evaluate")
        inf, ev = c.knobs["inference"], c.knobs["evaluate"]
        assert inf["PRESET"] == ev["PRESET"] == "selfimprove/presets/llama3-8b.env"
        assert inf["ITER_NUM"] == ev["ITER_NUM"] == "0" and inf["EVALUATE"] == "0"
        assert "ACTOR_MODELS" not in ev and "model_name" not in ev  # the cell's iter_0/actor
        # one greedy answer per question, critiqued and refined once
        assert (ev["sample_num"], ev["test_temperature"], ev["TEST_KNOW_ANSWER"]) == ("1", "0", "0")
    trained = next(c for c in cs if c.name.endswith("critic-trained"))
    assert trained.drivers == ("critic", "inference", "evaluate")
    assert trained.knobs["critic"]["PRESET"] == "selfimprove/presets/critic-llama3-8b.env"
    assert trained.knobs["evaluate"]["critic_model_name"] == str(tmp_path / trained.name / "critic" / "model")
    preset = C.read_preset(C.preset_path("llama3-8b"))
    assert {k: preset[k][0] for k in ("GRADER", "VOTING", "MAX_MODEL_LEN")} == {
        "GRADER": "mathcritique",
        "VOTING": "exact",
        "MAX_MODEL_LEN": "8192",
    }


RECIPE = {  # the tiny learning curve's data and evaluation, the same in every cell
    "critic_train_limit": "2400",
    "critic_test_limit": "120",
    "STRATEGIES": "rg3,reference",
    "RG3_CONTINUE": "reference",
    "RG3_PER_QUESTION": "1",
    "MC_K": "0",
    "EVAL_PER_CLASS": "100",
}


def test_the_critic_curve_grows_the_training_examples_and_evaluates_the_references_once(tmp_path):
    cs = grid.expand(grid.read_sweep(C.preset_path("critic_curve"), "tiny"), tmp_path / "critic_curve", {})
    assert [c.name for c in cs] == [f"critic_curve_examples-{n}" for n in (64, 256, 1024, 4096)]
    assert all(c.drivers == ("critic",) for c in cs)
    for c, n in zip(cs, (64, 256, 1024, 4096)):
        knobs = c.knobs["critic"]
        assert knobs["CRITIC_EXAMPLES"] == str(n)
        assert {k: knobs[k] for k in RECIPE} == RECIPE
        assert knobs["EXP_NUM"] == c.name and knobs["RUNS_DIR"] == str(tmp_path / "critic_curve")
    assert [c.knobs["critic"]["EVAL_CRITICS"] for c in cs] == ["none base trained likelihood programmatic"] + [
        "trained"
    ] * 3
    # the likelihood critic, a reference, is built in the first cell only
    assert [c.knobs["critic"].get("LIKELIHOOD_SOLUTIONS") for c in cs] == ["1024", None, None, None]
    paper = grid.expand(grid.read_sweep(C.preset_path("critic_curve"), "paper"), tmp_path / "p", {})
    assert [c.knobs["critic"]["CRITIC_EXAMPLES"] for c in paper] == ["1024", "4096", "16384", "65536"]
    assert {c.knobs["critic"]["PRESET"] for c in paper} == {"selfimprove/presets/critic-llama3-8b.env"}
    assert "critic_train_limit" not in paper[0].knobs["critic"]  # the paper preset's own data
    assert paper[0].knobs["critic"]["EVAL_CRITICS"] == "none base trained"
    # a knob of the environment replaces the preset's line, the grid's values still apply
    (first, *_) = grid.expand(
        grid.read_sweep(C.preset_path("critic_curve"), "tiny"),
        tmp_path,
        {"EVAL_PER_CLASS": "12", "CRITIC_EXAMPLES": "7"},
    )
    assert (first.knobs["critic"]["EVAL_PER_CLASS"], first.knobs["critic"]["CRITIC_EXAMPLES"]) == ("12", "64")


# ---------------------------------------------------------------------- sweep.json
def plan(tmp_path: Path, text: str, **env: str) -> dict:
    full = {"RUNS_DIR": str(tmp_path / "runs"), "SCALE": "tiny", **env}
    state = S.plan(str(preset(tmp_path, text, "sw")), full)
    S.atomic_write_json(S.state_path(state["dir"]), state)
    return state


def test_the_grid_and_every_cell_are_recorded(tmp_path):
    state = plan(tmp_path, 'GRID="USE_CRITIC=0,1"\nITER_NUM=2\n')
    saved = json.loads((tmp_path / "runs" / "sw" / "sweep.json").read_text())
    assert saved["grid"] == {"USE_CRITIC": ["0", "1"]} and saved["scale"] == "tiny"
    assert [c["status"] for c in saved["cells"]] == ["pending", "pending"]
    assert saved["cells"][1]["knobs"]["inference"]["USE_CRITIC"] == "1"
    assert state["cells"][0]["run"] == str((tmp_path / "runs" / "sw" / "sw_USE_CRITIC-0").resolve())


def test_a_finished_cell_stays_finished_until_its_knobs_change(tmp_path):
    text = 'GRID="USE_CRITIC=0,1"\nSWEEP_DRIVERS=inference\n'
    state = plan(tmp_path, text)
    Path(state["cells"][0]["run"]).mkdir(parents=True)
    S.mark(state, state["cells"][0]["name"], "running")
    cell = S.mark(state, state["cells"][0]["name"], "done")
    assert S.is_done(cell) and cell["seconds"] >= 0
    again = plan(tmp_path, text)
    assert [S.is_done(c) for c in again["cells"]] == [True, False]
    changed = plan(tmp_path, text, test_limit="3")  # a knob of the environment the preset does not set
    assert [c["status"] for c in changed["cells"]] == ["pending", "pending"]
    assert "knobs changed" in changed["cells"][0]["note"]


def test_a_done_cell_whose_run_or_evaluation_is_gone_runs_again(tmp_path):
    state = plan(tmp_path, 'SWEEP_DRIVERS="inference evaluate"\n')
    (cell,) = state["cells"]
    S.mark(state, cell["name"], "done")
    assert not S.is_done(cell)  # no run folder
    Path(cell["run"]).mkdir(parents=True)
    assert not S.is_done(cell)  # no evaluation
    (Path(cell["run"]) / "eval" / "iter_0").mkdir(parents=True)
    (Path(cell["run"]) / "eval" / "iter_0" / "results.json").write_text("{}")
    assert S.is_done(cell)
    assert S.compared_runs(state) == [cell["run"]]


def test_a_sweep_of_the_critic_driver_alone_lists_its_critic_evaluations(tmp_path):
    state = plan(tmp_path, 'SWEEP_DRIVERS=critic\nGRID="CRITIC_EXAMPLES=8,16"\n')
    first, second = state["cells"]
    assert S.critic_runs(state) == []  # nothing evaluated yet
    (Path(second["run"]) / "critic" / "eval").mkdir(parents=True)
    (Path(second["run"]) / "critic" / "eval" / "results.json").write_text("{}")
    assert S.critic_runs(state) == [second["run"]] and S.compared_runs(state) == []
    mixed = plan(
        tmp_path,
        'SWEEP_DRIVERS=critic\nGRID="c=a,b"\nc[a]="CRITIC_EXAMPLES=8"\nc[b]="SWEEP_DRIVERS=\'critic evaluate\'"\n',
    )
    for c in mixed["cells"]:
        (Path(c["run"]) / "critic" / "eval").mkdir(parents=True)
        (Path(c["run"]) / "critic" / "eval" / "results.json").write_text("{}")
    assert S.critic_runs(mixed) == []  # another driver ran too: the usual comparison


def test_the_other_scale_needs_its_own_sweep_name(tmp_path):
    plan(tmp_path, "ITER_NUM=1\n")
    with pytest.raises(UsageError, match="holds the tiny scale"):
        plan(tmp_path, "ITER_NUM=1\n", SCALE="paper")
    assert plan(tmp_path, "ITER_NUM=1\n", SCALE="paper", SWEEP_NAME="sw-paper")["sweep"] == "sw-paper"


def test_env_lines_export_exactly_the_cells_knobs(tmp_path):
    state = plan(tmp_path, 'dataset_name="synthetic synthetic-easy"\n')
    lines = S.env_lines(state["cells"][0], "inference").splitlines()
    assert "export dataset_name='synthetic synthetic-easy'" in lines
    with pytest.raises(UsageError, match="does not run the evaluate driver"):
        S.env_lines(state["cells"][0], "evaluate")
