"""The paper's numbers (``selfimprove/evaluation/paper_reference.json``): the shipped file is well
formed and complete, equals the collected numbers it was transcribed from, and a setting finds its
number."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from selfimprove.core.errors import DataError
from selfimprove.evaluation import paper as P

# --------------------------------------------------------------------------- the transcription
#
# How an entry of the collected file (``paper_numbers.json``: the paper's own labels, percent)
# becomes numbers of the project's file (settings in the project's vocabulary, points).

TRAINING = {
    "SFT": "SFT",
    "self-correction FT": "self-correction FT",
    "vanilla SI": "vanilla",
    "critique-in-the-loop SI": "critique-in-the-loop",
}
TABLE3_TEST_TIME = {
    "response only": {"test_time": "response only"},
    "critique model": {"test_time": "critique", "critic": "critique model"},
    "self-correction": {"test_time": "self-correction"},
}
TABLE2_CRITIC = {
    "No Critic": {"test_time": "response only"},
    "GPT-3.5-Turbo": {"test_time": "critique", "critic": "GPT-3.5-Turbo"},
    "GPT-4-Turbo": {"test_time": "critique", "critic": "GPT-4-Turbo"},
    "GPT-4o": {"test_time": "critique", "critic": "GPT-4o"},
    "Critique Model-8b": {"test_time": "critique", "critic": "critique model", "critic_size": "8B"},
    "Critique Model-70b": {"test_time": "critique", "critic": "critique model", "critic_size": "70B"},
}
FIG_E_SETTING = {
    "without critic": "response only",
    "with critic, without oracle": "critique",
    "with critic, with oracle": "critique, oracle",
}
TRAINED_CRITIC = {"critic": "critique model"}
SERIES = {  # Figs. B-D: series -> the setting's test time, metric and critic
    ("Fig. B", "with critic, MV"): {"test_time": "critique", "metric": "mv_at_k", **TRAINED_CRITIC},
    ("Fig. B", "without critic, MV@k"): {"test_time": "response only", "metric": "mv_at_k"},
    ("Fig. B", "without critic, MV@3k"): {"test_time": "response only", "metric": "mv_at_3k"},
    ("Fig. C", "parallel, pass@k"): {"test_time": "critique", "metric": "pass_at_k", **TRAINED_CRITIC},
    ("Fig. C", "sequential, pass@k"): {"test_time": "sequential critique", "metric": "pass_at_k", **TRAINED_CRITIC},
    ("Fig. D", "parallel MV"): {"test_time": "critique", "metric": "mv_at_k", **TRAINED_CRITIC},
    ("Fig. D", "sequential MV"): {"test_time": "sequential critique", "metric": "mv_at_k", **TRAINED_CRITIC},
    ("Fig. D", "sequential final"): {"test_time": "sequential critique", "metric": "final", **TRAINED_CRITIC},
}
METRIC_AT_K = {
    "acc": ("acc", None),
    "pass_at_1": ("pass_at_k", 1),
    "pass_at_5": ("pass_at_k", 5),
    "mv_at_5": ("mv_at_k", 5),
}
DIFFERENCE_OF_SI = f"{P.CRITIQUE} - {P.VANILLA}"


def provenance(source: str) -> str:
    for prefix, kind in (
        ("verbatim", "verbatim"),
        ("printed label", "printed label"),
        ("plot reading", "plot reading"),
    ):
        if source.startswith(prefix):
            return kind
    raise AssertionError(f"unknown provenance: {source!r}")


def actor(name: str) -> dict[str, Any]:
    model, _, trained = name.partition(" ")
    return {"model": model, **({"method": TRAINING[trained]} if trained else {})}


def metric(name: str) -> dict[str, Any]:
    m, k = METRIC_AT_K[name]
    return {"metric": m} | ({"k": k} if k is not None else {})


Number = tuple[str, str, tuple, float]  # figure, provenance, sorted setting items, value


def number(figure: str, prov: str, setting: dict[str, Any], value: float) -> Number:
    return figure, prov, tuple(sorted(setting.items())), float(value)


def transcribe(e: dict[str, Any]) -> list[Number]:
    """The project's numbers for one collected entry."""
    fig, ds = e["where"], {"dataset": e["dataset"]}
    if fig == "Table 2":
        s = actor(e["actor"]) | TABLE2_CRITIC[e["critic"]] | ds | {"metric": e["metric"]}
        return [number(fig, provenance(e["source"]), s, e["value"])]
    if fig == "Table 3":
        s = actor(e["actor"]) | {"method": TRAINING[e["training"]]} | TABLE3_TEST_TIME[e["test_time"]] | ds
        return [number(fig, provenance(e["source"]), s | metric(e["metric"]), e["value"])]
    if fig == "Fig. 6":
        s = actor(e["actor"]) | {"method": e["method"], "N": e["N"], "iteration": e["iteration"]}
        s |= {"test_time": "response only"} | ds | metric(e["metric"])
        return [number(fig, provenance(e["source"]), s, e["value"])]
    if fig == "Fig. E":
        s = {"model": f"Qwen2.5-{e['actor_size']}", "test_time": FIG_E_SETTING[e["setting"]]} | ds
        return [number(fig, provenance(e["source"]), s | {"metric": e["metric"]}, e["value"])]
    if fig in ("Fig. B", "Fig. C", "Fig. D"):
        s = actor(e["actor"]) | SERIES[fig, e["series"]] | ds | {"k": e["k"]}
        return [number(fig, provenance(e["source"]), s, e["value"])]
    if fig == "Fig. 7":
        s = {"method": DIFFERENCE_OF_SI, "metric": "kept_share", "level": e["level"]} | ds
        return [number(fig, provenance(e["source"]), s, e["value"])]
    if fig == "Fig. A":  # bars read from the plot, differences printed on it
        s = ds | {"split": e["split"], "level": e["level"], "metric": "acc"}
        return [
            number(fig, "plot reading", s | {"test_time": "response only"}, e["without_critic"]),
            number(fig, "plot reading", s | {"test_time": "critique"}, e["with_critic"]),
            number(fig, "printed label", s | {"test_time": "critique - response only"}, e["delta"]),
        ]
    if fig == "Fig. 8":
        s = ds | {"level": e["level"], "metric": "acc"}
        return [
            number(fig, "plot reading", s | {"method": P.VANILLA}, e["vanilla_si"]),
            number(fig, "plot reading", s | {"method": P.CRITIQUE}, e["critique_in_the_loop_si"]),
            number(fig, "printed label", s | {"method": DIFFERENCE_OF_SI}, e["delta"]),
        ]
    raise AssertionError(f"a figure the transcription does not know: {fig}")


def shipped() -> list[Number]:
    return [number(n.figure, n.provenance, dict(n.setting), n.value) for n in P.load().numbers]


# --------------------------------------------------------------------------- against the collected file


def test_the_project_file_equals_the_collected_numbers(paper_numbers_file: Path):
    collected = json.loads(paper_numbers_file.read_text(encoding="utf-8"))
    assert collected["units"].startswith("percent")
    expected = [n for e in collected["entries"] for n in transcribe(e)]
    ours = shipped()
    missing = Counter(expected) - Counter(ours)
    extra = Counter(ours) - Counter(expected)
    assert not missing and not extra, (
        f"{paper_numbers_file} and {P.REFERENCE_FILE.name} differ: "
        f"missing here {sorted(missing)[:5]}, not in the collected file {sorted(extra)[:5]}"
    )
    assert len(ours) == len(expected)
    # every figure of the collected file is here
    assert {e["where"] for e in collected["entries"]} == {n.figure for n in P.load().numbers}


# --------------------------------------------------------------------------- the project's file alone


def test_shipped_file_is_well_formed_and_every_number_has_its_provenance():
    ref = P.load()
    assert "2411.16579" in ref.paper and "percent" in ref.unit
    assert len(ref.numbers) == 390
    for n in ref.numbers:
        assert n.figure in P.FIGURES and n.provenance in P.PROVENANCE
        assert n.setting.get("dataset") in ("gsm8k", "math") and n.setting.get("metric")
        assert -100 <= n.value <= 100
    # numbers read from a plot say how they were read; tables are verbatim
    assert {n.provenance for n in ref.numbers if n.figure in ("Table 2", "Table 3")} == {"verbatim"}
    assert {n.provenance for n in ref.numbers if n.figure in ("Fig. 6", "Fig. B", "Fig. C", "Fig. D")} == {
        "plot reading"
    }
    assert {n.provenance for n in ref.numbers if n.figure in ("Fig. E", "Fig. 7")} == {"printed label"}
    # groups with an inferred reading carry a remark saying so
    assert all("inferred" in n.remark or "inference" in n.remark for n in ref.numbers if n.figure == "Table 3")
    assert all("inference" in n.remark for n in ref.numbers if n.figure == "Fig. E")


def test_shipped_file_is_complete_per_figure():
    ref = P.load()
    count = Counter(n.figure for n in ref.numbers)
    assert count == {
        "Table 2": 2 * (1 + 5 * 3),  # per dataset: the actor alone, five critics x (acc, discrimination, helpfulness)
        "Table 3": 4 * 2 * 2 * 3,  # 4 training methods x 2 test-time methods x 2 datasets x 3 metrics
        "Fig. 6": 2 * 4 * 4 * 2,  # methods x N x iterations 0-3 x datasets
        "Fig. E": 4 * 3 * 2,
        "Fig. B": 3 * 7 * 2,
        "Fig. C": 2 * 8 * 2,
        "Fig. D": 3 * 8 * 2,
        "Fig. A": 2 * 2 * 5 * 3,  # datasets x splits x levels x (without, with, difference)
        "Fig. 7": 2 * 5,
        "Fig. 8": 2 * 5 * 3,
    }
    fig6 = {
        (n.setting["method"], n.setting["N"], n.setting["iteration"], n.setting["dataset"])
        for n in ref.numbers
        if n.figure == "Fig. 6"
    }
    assert len(fig6) == 64
    # iteration 0 is the one SFT actor every Fig. 6 series starts from
    start: dict[str, set[float]] = {n.setting["dataset"]: set() for n in ref.numbers if n.figure == "Fig. 6"}
    for n in ref.numbers:
        if n.figure == "Fig. 6" and n.setting["iteration"] == 0:
            start[n.setting["dataset"]].add(n.value)
    assert start == {"gsm8k": {54.8}, "math": {17.2}}


def test_fig_a_and_fig_8_differences_are_the_bars_differences_within_the_reading():
    ref = P.load()
    for fig, key, a, b in (
        ("Fig. A", "test_time", "critique", "response only"),
        ("Fig. 8", "method", P.CRITIQUE, P.VANILLA),
    ):
        nums = [n for n in ref.numbers if n.figure == fig]
        by = {(tuple(sorted((k, v) for k, v in n.setting.items() if k != key)), n.setting[key]): n.value for n in nums}
        diffs = [(s, v) for (s, side), v in by.items() if side == f"{a} - {b}"]
        assert diffs
        for s, d in diffs:
            assert by[s, a] - by[s, b] == pytest.approx(d, abs=1.5)


# --------------------------------------------------------------------------- format errors


def minimal(**group: Any) -> dict:
    g: dict[str, Any] = {"figure": "Table 3", "provenance": "verbatim", "setting": {"model": "Llama-3-8B"}}
    g |= {"numbers": [{"dataset": "gsm8k", "metric": "acc", "value": 54.8}]}
    return {"format": 1, "paper": "p", "unit": "percent", "groups": [g | group]}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"provenance": "guessed"}, "provenance 'guessed' is not one of"),
        ({"provenance": None}, "provenance None"),
        ({"figure": "Fig. 9"}, "figure 'Fig. 9'"),
        ({"setting": {"modle": "x"}}, "unknown setting field 'modle'"),
        ({"setting": {"N": "5"}}, "N must be a int"),
        ({"numbers": [{"dataset": "gsm8k", "metric": "accuracy", "value": 1}]}, "metric 'accuracy' is not one of"),
        ({"numbers": [{"dataset": "gsm8k", "value": 1}]}, "the setting lacks metric"),
        ({"numbers": [{"dataset": "gsm8k", "metric": "acc"}]}, "value must be a finite number"),
        ({"numbers": [{"model": "x", "dataset": "gsm8k", "metric": "acc", "value": 1}]}, "model is already in"),
        ({"numbers": [{"dataset": "gsm8k", "metric": "acc", "value": v} for v in (1, 2)]}, "the same setting as"),
        ({"numbers": []}, "'numbers' must be a non-empty list"),
    ],
)
def test_format_errors_name_the_problem(change, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        P.parse(minimal(**change), "ref.json")


def test_unreadable_file_names_the_path(tmp_path):
    bad = tmp_path / "ref.json"
    bad.write_text("{")
    with pytest.raises(DataError, match="ref.json: cannot read"):
        P.load(bad)
    bad.write_text(json.dumps({"format": 0}))
    with pytest.raises(DataError, match='expected an object with "format": 1'):
        P.load(bad)


# --------------------------------------------------------------------------- lookup


@pytest.mark.parametrize(
    "family, name, same",
    [
        ("Llama-3-8B", "meta-llama/Meta-Llama-3-8B", True),
        ("Llama-3-8B", "meta-llama/Meta-Llama-3-8B-Instruct", True),
        ("Llama-3-8B", "/models/llama-3-8b/", True),
        ("Llama-3-8B", "meta-llama/Llama-3.1-8B", False),
        ("Llama-3-8B", "meta-llama/Meta-Llama-3-70B", False),
        ("Llama-3-8B", "models/SmolLM2-135M-Instruct", False),
        ("Qwen2.5-1.5B", "Qwen/Qwen2.5-1.5B-Instruct", True),
        ("Qwen2.5-1.5B", "Qwen/Qwen2.5-14B-Instruct", False),
        ("GPT-4o", "gpt-4o", True),
        ("GPT-4o", "gpt-4o-2024-08-06", True),
        ("GPT-4o", "gpt-4o-mini", False),
        ("critique model", "critique model", True),
    ],
)
def test_model_families(family, name, same):
    assert P.same_family(family, name) is same


def test_sizes_and_trained_critics(tmp_path):
    assert P.size_of("meta-llama/Meta-Llama-3-70B-Instruct") == "70B"
    assert P.size_of("Qwen/Qwen2.5-1.5B-Instruct") == "1.5B"
    assert P.size_of("models/SmolLM2-135M-Instruct") is None
    assert P.critic_setting(None) == {}
    assert P.critic_setting("gpt-4o") == {"critic": "gpt-4o"}
    run = tmp_path / "critic-run"
    (run / "critic" / "model").mkdir(parents=True)
    assert P.critic_setting(str(run / "critic" / "model")) == {"critic": "critique model"}  # size unknown
    manifest = {"critic_config": {"model_name": "x", "critic_base_model": "meta-llama/Meta-Llama-3-8B-Instruct"}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert P.critic_setting(str(run / "critic" / "model") + "/") == {"critic": "critique model", "critic_size": "8B"}


def test_lookup_in_the_shipped_file():
    ref = P.load()
    fig6 = {"model": "meta-llama/Meta-Llama-3-8B", "dataset": "gsm8k", "method": P.CRITIQUE, "N": 10}
    fig6 |= {"test_time": "response only", "metric": "pass_at_k", "k": 1}
    got = ref.lookup("Fig. 6", iteration=3, **fig6)
    assert got is not None and (got.figure, got.provenance, got.value) == ("Fig. 6", "plot reading", 75.0)
    assert ref.lookup("Fig. 6", iteration=4, **fig6) is None
    assert ref.lookup("Fig. 6", iteration=3, **(fig6 | {"model": "models/SmolLM2-135M-Instruct"})) is None
    assert ref.lookup("Fig. 6", iteration=3, **(fig6 | {"model": None})) is None  # a stated field must be known
    # a field the paper does not state does not restrict: Table 3 states no N or iteration
    t3 = {"model": "meta-llama/Meta-Llama-3-8B", "method": P.VANILLA, "dataset": "math", "N": 5, "iteration": 3}
    got = ref.lookup("Table 3", test_time="response only", metric="mv_at_k", k=5, **t3)
    assert got is not None and got.value == 23.0
    # the most specific number wins: Table 2 names the critic, Table 3 does not state its size
    sft = {"model": "meta-llama/Meta-Llama-3-8B", "method": "SFT", "dataset": "gsm8k", "metric": "acc"}
    crit = {"test_time": "critique", "critic": "critique model", "critic_size": "70B"}
    got = ref.lookup(("Table 3", "Table 2"), **sft, **crit)
    assert got is not None and (got.figure, got.value) == ("Table 2", 76.88)
    got = ref.lookup(("Table 3", "Table 2"), **sft, **(crit | {"critic_size": None}))
    assert got is not None and (got.figure, got.value) == ("Table 3", 63.3)
    # equally specific: the figures' order decides
    got = ref.lookup(("Table 2", "Table 3"), **sft, test_time="response only")
    assert got is not None and (got.figure, got.value) == ("Table 2", 54.81)
    got = ref.lookup(("Table 3", "Table 2"), **sft, test_time="response only")
    assert got is not None and (got.figure, got.value) == ("Table 3", 54.8)
    # an untrained critic is not the paper's critique model
    assert (
        ref.lookup(("Table 3", "Table 2"), **sft, **(crit | {"critic": "meta-llama/Meta-Llama-3-8B-Instruct"})) is None
    )


def test_compared_and_points():
    n = P.PaperNumber("Table 2", "verbatim", {"dataset": "gsm8k", "metric": "acc"}, 54.81)
    assert P.compared(n, 0.5) == {"value": 54.81, "figure": "Table 2", "provenance": "verbatim", "difference": -4.81}
    without_ours = P.compared(n, None)
    assert without_ours is not None and without_ours["difference"] is None
    assert P.compared(None, 0.5) is None
    assert [P.points(v) for v in (54.81, 59.0, -2.0, 94.5)] == ["54.81", "59.0", "-2.0", "94.5"]


# --------------------------------------------------------------------------- the evaluation report


def paper_named_eval(root: Path, critic_base: str = "meta-llama/Meta-Llama-3-8B-Instruct") -> tuple[Path, dict]:
    """A run of Llama-3-8B whose SFT actor (``iter_0/actor``) is evaluated on GSM8K with a pool of 4 and
    a critic trained by ``critic-all.sh`` from ``critic_base``."""
    from test_metrics import CONFIG, make_records, string_vote

    from selfimprove.evaluation import metrics as M

    run = root / "runs" / "sft"
    (run / "eval").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"config": {"model_name": "meta-llama/Meta-Llama-3-8B"}}))
    critic = root / "runs" / "critic-llama3-8b" / "critic" / "model"
    critic.mkdir(parents=True)
    (critic.parent.parent / "manifest.json").write_text(
        json.dumps({"critic_config": {"model_name": critic_base, "critic_base_model": critic_base}})
    )
    config = CONFIG | {"actor": "iter_0", "actor_model": str(run / "iter_0" / "actor"), "critic": str(critic)}
    return run, M.compute_results(config=config, vote_fn=string_vote, **make_records())


def test_evaluation_report_sets_the_paper_beside_ours(tmp_path):
    from selfimprove.evaluation import report as R

    run, results = paper_named_eval(tmp_path)
    md = R.write_report([results], run / "eval").read_text()
    assert "## The paper's numbers beside ours" in md
    rows = {line.split(" | ")[2]: line for line in md.splitlines() if line.startswith("| iter_0 | gsm8k |")}
    # response only, the SFT actor: Table 3 (equal in specificity to Table 2's row without critic, listed first)
    assert rows["Acc (greedy), response only"].endswith(
        "| 66.7 (n=3) | 54.8 (Table 3, verbatim) | +11.9 | Llama-3-8B, SFT, response only, acc |"
    )
    # MV@K without critique: Fig. B, read from the plot
    assert "| 55.4 (Fig. B, plot reading) |" in rows["MV@4, response only"]
    # with the critique model: a critic trained from an 8B model is Table 2's "Critique Model-8b"
    assert "| 63.31 (Table 2, verbatim) |" in rows["Acc after one critique-refine round"]
    assert "critique model, critic size 8B, critique" in rows["Acc after one critique-refine round"]
    assert "| 79.4 (Table 2, verbatim) |" in rows["critic discrimination"]
    assert "| 31.0 (Table 2, verbatim) |" in rows["critic helpfulness"]
    # Pass@K and MV@K after refining the pool: Figs. C and B (Fig. D equally specific, listed later)
    assert "(Fig. C, plot reading)" in rows["Pass@4, critique-refine (refine all)"]
    assert "| 72.3 (Fig. B, plot reading) |" in rows["MV@4, critique-refine (refine all)"]
    # numbers the paper does not report at this setting are not listed (Pass@K response only, MV@3K at K = 1)
    assert "Pass@4, response only" not in rows and not any("MV@3" in k for k in rows)
    # the difference is ours minus the paper's, in points
    helpful = rows["critic helpfulness"].split(" | ")
    assert float(helpful[5]) == pytest.approx(float(helpful[3].split()[0]) - 31.0, abs=0.051)


def test_evaluation_report_without_a_matching_setting_has_no_paper_section(tmp_path):
    from selfimprove.evaluation import report as R

    run, results = paper_named_eval(tmp_path)
    (run / "manifest.json").write_text(json.dumps({"config": {"model_name": "models/SmolLM2-135M-Instruct"}}))
    assert "The paper's numbers" not in R.write_report([results], run / "eval").read_text()
    # a critic of another size is not the paper's 8B critique model: Table 3 (size not stated) instead
    run, results = paper_named_eval(tmp_path / "b", critic_base="my-critic-1.5B")
    md = R.write_report([results], run / "eval").read_text()
    assert "63.31" not in md and "| 63.3 (Table 3, verbatim) |" in md


def test_evaluation_report_of_self_improvement_iterations(tmp_path):
    """Fig. 6 beside every iteration's Pass@1; the tables beside the SFT actor (iteration 0) and the
    last actor only, by the run's method."""
    from selfimprove.evaluation import report as R

    run, results = paper_named_eval(tmp_path)
    samples = [
        {"id": f"t{i}/s{j}", "qid": f"t{i}", "index": j, "dataset_type": "gsm8k", "response": "", "pred": "1"}
        | {"correct": True}
        for i in (1, 2)
        for j in range(3)
    ]
    (run / "iter_1").mkdir()
    (run / "iter_1" / "01_samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    (run / "iter_1" / "03_refinements.jsonl").write_text("")
    iterations = [
        results | {"config": {**results["config"], "actor": f"iter_{k}", "actor_model": str(run / f"iter_{k}/actor")}}
        for k in range(3)
    ]
    md = R.write_report(iterations, run / "eval").read_text()
    section = md.split("## The paper's numbers beside ours")[1].split("\n## ")[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| iter_")]
    found = {(r[0][2:], r[2]): r[4] for r in rows}
    # Fig. 6, critique-in-the-loop, N = 3, GSM8K
    assert found["iter_0", "Pass@1, response only"] == "54.8 (Fig. 6, plot reading)"
    assert found["iter_1", "Pass@1, response only"] == "65.1 (Fig. 6, plot reading)"
    assert found["iter_2", "Pass@1, response only"] == "67.7 (Fig. 6, plot reading)"
    # Table 3: the SFT actor, and the last actor as critique-in-the-loop self-improvement
    assert found["iter_0", "Acc (greedy), response only"] == "54.8 (Table 3, verbatim)"
    assert found["iter_2", "Acc (greedy), response only"] == "75.5 (Table 3, verbatim)"
    assert {name for actor, name in found if actor == "iter_1"} == {"Pass@1, response only"}
