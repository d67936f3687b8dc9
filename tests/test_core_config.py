"""The configuration: one loader (defaults -> preset -> environment -> command line), one check pass,
knob-backed stage options, the shell form the drivers evaluate, and the one error exit."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys

import pytest

from selfimprove.core import config as C
from selfimprove.core.cli import ArgumentParser, add_generation_args, add_run_args, parser, run
from selfimprove.core.errors import DataError, EngineError, RecordError, RunLocked, SettingsChanged, UsageError


# ------------------------------------------------------------------------------ the loader
def test_every_default_lives_once_and_both_drivers_agree_where_they_share_a_knob():
    inf, ev = C.load(C.INFERENCE, env={}), C.load(C.EVALUATE, env={})
    assert (inf.max_tokens, inf.critic_max_tokens, inf.max_model_len) == (256, 384, 2048)
    assert (ev.max_tokens, ev.critic_max_tokens, ev.max_model_len) == (256, 384, 2048)
    # the two knobs that mean something else per driver
    assert (inf.sample_num, ev.sample_num) == (2, 4)
    assert (inf.gpu_memory_utilization, ev.gpu_memory_utilization) == (0.9, 0.45)
    assert inf.refine_num == inf.sample_num and inf.critic_model_name == inf.model_name
    assert ev.sequential_mode == "all" and C.load(C.EVALUATE, env={"TEST_KNOW_ANSWER": "1"}).sequential_mode == "oracle"


def test_precedence_preset_then_environment_then_command_line(tmp_path):
    preset = tmp_path / "x.env"
    preset.write_text("max_tokens=512\ntemperature=0.3  # cooler\nMAX_MODEL_LEN=4096\n")
    env = {"PRESET": str(preset), "temperature": "0.5"}
    cfg = C.load(C.INFERENCE, env=env)
    assert (cfg.max_tokens, cfg.temperature, cfg.max_model_len) == (512, 0.5, 4096)
    cfg = C.load(C.INFERENCE, env=env, overrides={"max_tokens": "64"})
    assert cfg.max_tokens == 64 and cfg.sources["max_tokens"] == "command line"
    assert cfg.sources["temperature"] == "environment" and cfg.sources["max_model_len"] == f"{preset}:3"


def test_a_preset_name_is_found_in_the_presets_folder_and_the_older_form_is_read(tmp_path):
    cfg = C.load(C.INFERENCE, env={"PRESET": "llama3-8b"})
    assert (cfg.model_type, cfg.train_limit, cfg.max_tokens) == ("Base", None, 1024)
    old = tmp_path / "old.env"
    old.write_text(': "${sample_num:=3}"   # three\n: "${default_system=}"\n: "${other_driver_knob:=1}"\n')
    cfg = C.load(C.STAGE, env={"PRESET": str(old)})  # a stage tolerates another driver's knobs
    assert cfg.sample_num == 3 and cfg.default_system == ""
    with pytest.raises(UsageError, match="old.env:3"):
        C.load(C.INFERENCE, env={"PRESET": str(old)})
    with pytest.raises(UsageError, match="PRESET=nope: no such file"):
        C.load(C.INFERENCE, env={"PRESET": "nope"})


@pytest.mark.parametrize(
    "env, message",
    [
        ({"sample_num": "0"}, "sample_num=0 (environment): must be >= 1"),
        ({"sample_num": "-1"}, "sample_num=-1 (environment): must be >= 1"),
        ({"sample_num": "abc"}, "sample_num='abc' (environment): expected an integer"),
        ({"temperature": "-1"}, "temperature=-1.0 (environment): must be >= 0"),
        ({"temperature": "abc"}, "temperature='abc' (environment): expected a number"),
        ({"temperature": "nan"}, "temperature='nan' (environment): expected a number"),
        ({"top_p": "0"}, "top_p=0.0 (environment): must be in (0, 1]"),
        ({"max_tokens": "0"}, "max_tokens=0 (environment): must be >= 1"),
        ({"USE_CRITIC": "yes"}, "USE_CRITIC='yes' (environment): expected 0 or 1"),
        ({"EXP_NUM": "../escape"}, "contains a path separator"),
        ({"EXP_NUM": ".."}, "contains '..'"),
        ({"EXP_NUM": "a\nb"}, "contains a control character"),
        ({"EXP_NUM": ""}, None),  # empty means the default, not an empty name
        ({"EXP_NUM": "my run"}, "EXP_NUM='my run' (environment): contains ' ' (only ASCII letters, digits"),
        ({"EXP_NUM": "x$(id)"}, "EXP_NUM='x$(id)' (environment): contains '$()' (only ASCII letters"),
        ({"EXP_NUM": "a;b`c`"}, "contains ';`' (only ASCII letters, digits, -, _ and . are allowed)"),
        ({"EXP_NUM": "café"}, "contains 'é'"),
        ({"sample_num": "100000000000000000000"}, "must be between 1 and 1024 samples per question"),
        ({"ITER_NUM": "1000"}, "ITER_NUM=1000 (environment): must be between 0 and 100 iterations"),
        ({"GRADER": "exact"}, "GRADER='exact' (environment): must be one of default, mathcritique, math-verify"),
        ({"TRAIN_ARGS": "max_steps=2 oops"}, "expects key=value items separated by spaces (bad: oops)"),
        ({"ZERO_STAGE": "1"}, "ZERO_STAGE=1 (environment): must be one of 2, 3"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL='CHATTY' (environment): must be one of DEBUG"),
        ({"RESERVED_SCOPE": "batch"}, "RESERVED_SCOPE='batch' (environment): must be one of sample, question"),
    ],
)
def test_each_bad_value_is_named_with_its_source(env, message):
    if message is None:
        assert C.load(C.INFERENCE, env=env).exp_num == "demo"
        return
    with pytest.raises(UsageError) as e:
        C.load(C.INFERENCE, env=env)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_all_problems_are_reported_together_and_unused_knobs_do_not_stop_a_stage():
    with pytest.raises(UsageError) as e:
        C.load(C.INFERENCE, env={"sample_num": "0", "temperature": "x"})
    assert "sample_num=0" in str(e.value) and "temperature='x'" in str(e.value)
    # MV_NUM belongs to the evaluation: the inference driver's own load ignores it, the stage too
    assert C.load(C.INFERENCE, env={"MV_NUM": "x"}).mv_num == 2
    with pytest.raises(UsageError, match="MV_NUM='x'"):
        C.load(C.EVALUATE, env={"MV_NUM": "x"})


def test_empty_values_mean_all_or_none_where_that_is_their_meaning():
    cfg = C.load(C.INFERENCE, env={"train_limit": "", "test_limit": " ", "default_system": "", "dataset_name": ""})
    assert cfg.train_limit is None and cfg.test_limit is None and cfg.default_system == ""
    assert cfg.dataset_name == "synthetic"  # empty is not a dataset: the default stays
    ev = C.load(C.EVALUATE, env={"EVAL_ITERS": "0 2", "ACTOR_MODELS": ""})
    assert ev.eval_iters == (0, 2) and ev.actor_models == ()


def test_shell_lines_survive_bash_and_the_manifest_form_is_json(tmp_path):
    odd = 'it\'s "quoted" $(not run) `nor this`'
    cfg = C.load(C.INFERENCE, env={"default_system": odd, "RUNS_DIR": str(tmp_path), "EXP_NUM": "e1"})
    script = "\n".join(C.shell_lines(cfg, C.INFERENCE)) + '\nprintf "%s\\n" "$default_system" "$RUN" "$sft_format"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [odd, str(tmp_path / "e1"), "sharegpt"]
    exported = subprocess.run(
        ["bash", "-c", "\n".join(C.shell_lines(cfg, C.INFERENCE)) + "\nenv"], capture_output=True, text=True
    ).stdout
    assert "\nMAX_MODEL_LEN=2048\n" in exported and "\nsample_num=" not in exported  # evaluate keeps its own N
    d = cfg.as_dict(C.INFERENCE)
    assert json.loads(json.dumps(d)) == d and d["TRAIN_ARGS"] == "" and d["USE_CRITIC"] is True
    assert set(d) == {k.env for k in C.knobs(C.INFERENCE).values()}


def test_a_plain_experiment_name_is_accepted():
    assert C.load(C.INFERENCE, env={"EXP_NUM": "Exp-1_v2.0"}).exp_num == "Exp-1_v2.0"


def test_every_count_knob_has_an_upper_bound_that_it_states():
    """A typo with extra zeros in any integer knob is refused by the check pass, naming the bound;
    the bound itself is accepted."""
    from selfimprove.core.knob import as_int, as_ints

    counts = {a: k for a, k in C.knobs().items() if k.parse in (as_int, as_ints)}
    assert {"sample_num", "train_limit", "iter_num", "mv_num", "mc_n", "eval_per_class", "max_rounds"} <= set(counts)
    for attr, k in counts.items():
        if attr == "seed":  # a seed is a name for randomness, not a count
            continue
        with pytest.raises(UsageError) as e:
            C.load(C.STAGE, env={k.env: "100000000000000000000"}, check={attr})
        msg = str(e.value)
        assert msg.startswith(f"{k.env}=") and "\n" not in msg
        if attr == "zero_stage":
            continue  # one of 2, 3
        bound = re.search(r"between -?\d+ and (\d+)", msg)
        assert bound, msg
        top = int(bound.group(1))
        assert top <= 1_048_576
        value = str(top) if k.parse is as_int else f"0 {top}"
        assert getattr(C.load(C.STAGE, env={k.env: value}, check={attr}), attr) in (top, (0, top))


def test_stage_options_without_a_knob_have_bounds_too():
    ap = parser("demo", "a stage")
    add_generation_args(ap, temperature=0.0, n=1, knobs={"max_tokens": "critic_max_tokens"})
    with pytest.raises(UsageError, match=r"--n=100000000000: must be between 1 and 1024 completions per item"):
        ap.parse_args(["--n", "100000000000"])
    with pytest.raises(UsageError, match=r"--grade-workers=5000: must be between 0 and 1024 processes"):
        ap.parse_args(["--grade-workers", "5000"])
    assert ap.parse_args(["--n", "1024", "--grade-workers", "0"]).n == 1024


def test_the_run_folder_must_be_creatable_and_writable(tmp_path, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("")
    exp = lambda runs: C.load(C.INFERENCE, env={"RUNS_DIR": str(runs), "EXP_NUM": "e"}).layout.root  # noqa: E731
    check = lambda runs: C.check_run_folder(str(runs), exp(runs))  # noqa: E731
    assert check(tmp_path / "new" / "deeper") is None  # missing folders are created by the run
    assert check(afile) == f"RUNS_DIR={afile}: {afile} is a file, not a folder; set RUNS_DIR to a folder you can write"
    assert f"{afile} is a file, not a folder" in (check(afile / "sub") or "")
    (tmp_path / "e").write_text("")
    assert f"the experiment folder {tmp_path / 'e'} is a file" in (check(tmp_path) or "")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert f"{tmp_path / 'dangling'} is a broken symbolic link" in (check(tmp_path / "dangling") or "")
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = C.os.access
    monkeypatch.setattr(C.os, "access", lambda p, mode: False if str(p) == str(ro) else real_access(p, mode))
    assert (
        check(ro / "runs")
        == f"RUNS_DIR={ro / 'runs'}: {ro} is not writable (read-only); set RUNS_DIR to a folder you can write"
    )


def problem(name: str, env: dict[str, str]) -> str:
    return C.check_model(name, "model_name", env=env) or ""


def test_model_names_that_look_like_paths_must_be_model_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "good").mkdir(parents=True)
    (tmp_path / "models" / "good" / "config.json").write_text("{}")
    assert C.check_model("models/good", "model_name", env={}) is None
    assert "model models/nope not found" in problem("models/nope", {})
    assert "not found" in problem("./nope", {})
    assert "is not a model folder" in problem("models", {})
    # the programmatic critic's earlier name is pointed to its present one
    assert "now named 'programmatic'" in problem("annotator", {})
    # a hub id: fine when the hub may be used, or when it is cached; else a clear message
    assert C.check_model("org/model", "model_name", env={}) is None
    offline = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    assert "HF_HUB_OFFLINE is set" in problem("org/model", offline)
    snap = tmp_path / "hub" / "models--org--model" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    assert C.check_model("org/model", "model_name", env=offline) is None


# ------------------------------------------------------------------------ stage options
def stage_parser() -> ArgumentParser:
    ap = parser("demo", "a stage")
    add_generation_args(ap, knobs={"n": "sample_num"})
    add_run_args(ap, iteration=True)
    return ap


def test_stage_options_take_knob_defaults_and_are_checked_like_knobs(monkeypatch):
    monkeypatch.delenv("PRESET", raising=False)
    monkeypatch.setenv("MAX_MODEL_LEN", "1024")
    monkeypatch.setenv("sample_num", "3")
    args = stage_parser().parse_args([])
    assert (args.n, args.max_model_len, args.max_tokens, args.grader, args.seed) == (3, 1024, 256, "default", 0)
    assert stage_parser().parse_args(["--n", "5", "--max-model-len", "512"]).n == 5
    with pytest.raises(UsageError, match=r"--n=0: must be >= 1"):
        stage_parser().parse_args(["--n", "0"])
    with pytest.raises(UsageError, match="temperature='warm'"):
        stage_parser().parse_args(["--temperature", "warm"])
    with pytest.raises(UsageError, match="unrecognized arguments: --nope"):
        stage_parser().parse_args(["--nope"])
    # a bad value in the environment is not used when the command line gives the knob
    monkeypatch.setenv("temperature", "warm")
    assert stage_parser().parse_args(["--temperature", "0.2"]).temperature == 0.2


def test_fixed_defaults_are_checked_too():
    ap = parser("demo", "a stage")
    add_generation_args(ap, temperature=0.0, n=1, knobs={"max_tokens": "critic_max_tokens"})
    assert ap.parse_args([]).max_tokens == 384 and ap.parse_args([]).temperature == 0.0
    with pytest.raises(UsageError, match="--n=0: must be >= 1"):
        ap.parse_args(["--n", "0"])


# ------------------------------------------------------------------------ the one error exit
@pytest.mark.parametrize(
    "error, code",
    [
        (UsageError("bad knob"), 2),
        (DataError("bad file"), 2),
        (RecordError("f.jsonl:3: bad line"), 2),
        (SettingsChanged("other settings"), 2),
        (RunLocked("busy"), 75),
        (EngineError("no GPU"), 1),
    ],
)
def test_run_turns_each_error_into_one_line_and_its_exit_code(error, code, capsys, monkeypatch):
    monkeypatch.delenv("LOG_LEVEL", raising=False)

    def main(argv):
        raise error

    with pytest.raises(SystemExit) as e:
        run(main, [])
    assert e.value.code == code
    err = capsys.readouterr().err
    assert err == f"error: {error}\n"


def test_log_level_knob_quiets_messages_and_a_bad_level_is_an_error(capsys, monkeypatch):
    log = logging.getLogger("selfimprove.test")

    def main(argv):
        log.info("an info line")
        log.warning("a warning line")
        return 0

    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    with pytest.raises(SystemExit):
        run(main, [])
    assert capsys.readouterr().err == "warning: a warning line\n"
    monkeypatch.setenv("LOG_LEVEL", "loud")
    with pytest.raises(SystemExit) as e:
        run(main, [])
    assert e.value.code == 2 and "LOG_LEVEL='LOUD'" in capsys.readouterr().err
    monkeypatch.setenv("LOG_LEVEL", "INFO")


def test_config_command_lists_a_drivers_knobs():
    proc = subprocess.run(
        [sys.executable, "-m", "selfimprove", "config", "knobs", "evaluate"], capture_output=True, text=True, check=True
    )
    assert proc.stdout.split()[0] == "EXP_NUM" and "MV_NUM" in proc.stdout and "\nUSE_CRITIC " not in proc.stdout


# ------------------------------------------------------------------------ feedback files
FEEDBACK_ROW = {
    "instruction": "Q? fmt\n\nAssistant:Let's go\nstep\n<|end_of_text|>\nHuman: I have made a critic.\n\ncrit\n",
    "input": "",
    "output": "new solution",
}


def test_feedback_files_are_found_parsed_or_refused_before_training(tmp_path, monkeypatch, caplog):
    from selfimprove.stages.config import resolve_feedback

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    env = {"DATA_DIR": str(tmp_path)}
    # auto, nothing there, the flag at its default: training goes on without, and says so
    cfg = resolve_feedback(C.load(C.INFERENCE, env=env))
    assert not cfg.use_gpt4_feedback and cfg.feedback_file == "" and "no feedback file found" in caplog.text
    # the flag asked for explicitly: refused
    with pytest.raises(UsageError, match="USE_GPT4_FEEDBACK=1 but no feedback file found"):
        resolve_feedback(C.load(C.INFERENCE, env={**env, "USE_GPT4_FEEDBACK": "1"}))
    # auto finds the released file of the training datasets' type (synthetic is GSM8K-type)
    released = tmp_path / "mathcritique-samples" / "gsm8k-critique-refine-100.json"
    released.parent.mkdir()
    released.write_text(json.dumps([FEEDBACK_ROW, {"instruction": "no turns"}]))
    cfg = resolve_feedback(C.load(C.INFERENCE, env=env))
    assert cfg.use_gpt4_feedback and cfg.feedback_file == str(released)
    assert "row skipped" in caplog.text  # the bad row is reported now, not after iteration 0's training
    # a named file that is not a list of rows is refused
    bad = tmp_path / "bad.json"
    bad.write_text('{"instruction": "x"}')
    with pytest.raises(UsageError, match="FEEDBACK_FILE: .*bad.json: expected a JSON list"):
        resolve_feedback(C.load(C.INFERENCE, env={**env, "FEEDBACK_FILE": str(bad)}))
    with pytest.raises(UsageError, match="FEEDBACK_FILE /nope.json not found"):
        resolve_feedback(C.load(C.INFERENCE, env={**env, "FEEDBACK_FILE": "/nope.json"}))


def test_the_pool_temperature_follows_temperature_unless_the_evaluation_sets_its_own():
    assert C.load(C.EVALUATE, env={"temperature": "0.9"}).test_temperature == 0.9
    cfg = C.load(C.EVALUATE, env={"temperature": "0.9", "test_temperature": "0"})
    assert cfg.test_temperature == 0.0 and cfg.temperature == 0.9
    # the released evaluation is realistic and greedy: the Llama-3-8B preset says so
    preset = C.load(C.EVALUATE, env={"PRESET": "llama3-8b"}, check=())
    assert preset.test_temperature == 0.0 and preset.test_know_answer is False


def test_reserved_new_data_counts_per_critiqued_sample_by_default():
    assert C.load(C.INFERENCE, env={}).reserved_scope == "sample"
    assert C.load(C.INFERENCE, env={"RESERVED_SCOPE": "question"}).reserved_scope == "question"
