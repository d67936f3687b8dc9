"""The train stage with a stand-in for llamafactory-cli: roles, files, manifest, checks, checkpoints."""

from __future__ import annotations

import json
import struct
import sys
import textwrap
from pathlib import Path

import pytest

from selfimprove.core.cli import run
from selfimprove.core.manifest import read as read_manifest
from selfimprove.stages.train import main as train_main
from selfimprove.training.weights import check_model_folder

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct"

FAKE_CLI = textwrap.dedent(
    """\
    #!{python}
    # stands in for `llamafactory-cli train ARGS.yaml`: records the call, writes a small model
    import json, os, struct, sys
    from pathlib import Path
    args = {{}}
    for line in open(sys.argv[2]):
        k, _, v = line.partition(": ")
        args[k] = json.loads(v)
    log = Path(os.environ["FAKE_LOG"])
    with open(log, "a") as f:
        f.write(json.dumps({{"argv": sys.argv[1:], "args": args, "torchrun": os.environ.get("FORCE_TORCHRUN")}}) + "\\n")
    if os.environ.get("FAKE_FAIL"):
        print("Traceback: out of memory")
        sys.exit(3)
    out = Path(args["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    def weights(d):
        d.mkdir(parents=True, exist_ok=True)
        head = json.dumps({{"w": {{"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}}}).encode()
        (d / "model.safetensors").write_bytes(struct.pack("<Q", len(head)) + head + bytes(8))
        (d / "config.json").write_text("{{}}")
    if args.get("save_strategy") == "steps":
        weights(out / "checkpoint-1")
        (out / "checkpoint-1" / "trainer_state.json").write_text("{{}}")
    weights(out)
    (out / "tokenizer_config.json").write_text("{{}}")
    (out / "tokenizer.json").write_text("{{}}")
    (out / "train_results.json").write_text(json.dumps({{"train_loss": 1.25, "train_runtime": 3.0}}))
    print("done")
    """
)


@pytest.fixture
def cli(tmp_path, monkeypatch):
    path = tmp_path / "bin" / "llamafactory-cli"
    path.parent.mkdir()
    path.write_text(FAKE_CLI.format(python=sys.executable))
    path.chmod(0o755)
    monkeypatch.setenv("LLAMAFACTORY_CLI", str(path))
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.jsonl"))
    for var in (
        "NNODES",
        "NODE_RANK",
        "MASTER_ADDR",
        "MASTER_PORT",
        "FORCE_TORCHRUN",
        "KEEP_CHECKPOINTS",
        "TRAIN_REUSE_DIR",
    ):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "calls.jsonl"


def calls(log: Path) -> list[dict]:
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def yaml_args(path: Path) -> dict:
    return {k: json.loads(v) for k, _, v in (line.partition(": ") for line in path.read_text().splitlines())}


def sharegpt(n: int = 3) -> list[dict]:
    return [
        {"conversations": [{"from": "human", "value": f"check {i}"}, {"from": "gpt", "value": "Correct"}]}
        for i in range(n)
    ]


def exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as e:
        run(train_main, argv)
    return int(e.value.code or 0)


CRITIC = ["--role", "critic", "--base-model", str(MODEL), "--template", "smollm2", "--profile", "cpu"]


def test_critic_role_trains_a_data_file_into_its_own_folder(tmp_path, cli, caplog):
    run_dir, data_dir = tmp_path / "run", tmp_path / "run" / "critic"
    data_dir.mkdir(parents=True)
    data = data_dir / "critic_sft.json"
    data.write_text(json.dumps(sharegpt()))
    (data_dir / "dataset_info.json").write_text(json.dumps({"other": {"file_name": "x.json"}}))
    out = tmp_path / "run" / "critic" / "model"
    argv = CRITIC + ["--run-dir", str(run_dir), "--dataset-file", str(data), "--out-dir", str(out)]
    argv += ["--default-system", "You are a critic"]
    assert exit_code(argv) == 0
    assert check_model_folder(out) == [] and not (tmp_path / "run" / "critic" / "model.partial").exists()
    args = yaml_args(data_dir / "critic_sft.train.yaml")
    assert args["output_dir"] == str(out) + ".partial" and args["template"] == "smollm2"
    assert args["default_system"] == "You are a critic" and args["dataset_dir"] == str(data_dir)
    info = json.loads((data_dir / "dataset_info.json").read_text())
    assert info["other"] == {"file_name": "x.json"}  # the entries of others are kept
    assert info[args["dataset"]]["file_name"] == "critic_sft.json"
    assert (data_dir / "critic_sft.train.log").read_text().strip() == "done"
    entry = read_manifest(run_dir)["steps"]["critic/05_train"]
    assert entry["status"] == "done" and entry["counts"]["examples"] == 3 and entry["counts"]["train_loss"] == 1.25
    assert len(calls(cli)) == 1
    # rerun: done and intact, so nothing is trained
    assert exit_code(argv) == 0
    assert len(calls(cli)) == 1 and "already done" in caplog.text


def test_actor_role_keeps_its_interface(tmp_path, cli):
    (tmp_path / "iter_0").mkdir()
    (tmp_path / "iter_0" / "sft.json").write_text(json.dumps(sharegpt(2)))
    argv = ["--run-dir", str(tmp_path), "--iter", "0", "--base-model", str(MODEL), "--template", "smollm2"]
    assert exit_code(argv + ["--profile", "cpu", "--set", "max_steps=2"]) == 0
    assert check_model_folder(tmp_path / "iter_0" / "actor") == []
    args = yaml_args(tmp_path / "iter_0" / "train.yaml")
    assert args["dataset"] == "sft_iter0" and args["max_steps"] == 2 and args["save_strategy"] == "no"
    assert (tmp_path / "iter_0" / "train.log").is_file()
    assert read_manifest(tmp_path)["steps"]["iter_0/05_train"]["status"] == "done"
    assert calls(cli)[0]["torchrun"] is None  # cpu profile: no torchrun forced


def test_role_arguments_are_checked(tmp_path, cli):
    base = ["--run-dir", str(tmp_path), "--base-model", str(MODEL), "--template", "smollm2"]
    assert exit_code(base + ["--role", "critic", "--dataset-file", str(tmp_path / "x.json")]) == 2
    assert exit_code(base + ["--iter", "0", "--out-dir", str(tmp_path / "o")]) == 2
    assert exit_code(base + ["--role", "critic", "--dataset-file", "nope.json", "--out-dir", "o"]) == 2
    assert calls(cli) == []


def test_done_step_with_missing_weights_is_trained_again(tmp_path, cli, caplog):
    data = tmp_path / "c.json"
    data.write_text(json.dumps(sharegpt()))
    argv = CRITIC + ["--run-dir", str(tmp_path), "--dataset-file", str(data), "--out-dir", str(tmp_path / "m")]
    assert exit_code(argv) == 0
    (tmp_path / "m" / "model.safetensors").unlink()
    assert exit_code(argv) == 0
    assert "training again" in caplog.text and "no weights" in caplog.text
    assert len(calls(cli)) == 2 and check_model_folder(tmp_path / "m") == []


def test_failed_training_leaves_no_model_and_a_failed_step(tmp_path, cli, monkeypatch, caplog):
    data = tmp_path / "c.json"
    data.write_text(json.dumps(sharegpt()))
    monkeypatch.setenv("FAKE_FAIL", "1")
    argv = CRITIC + ["--run-dir", str(tmp_path), "--dataset-file", str(data), "--out-dir", str(tmp_path / "m")]
    assert exit_code(argv) == 1  # a step that failed (StepError), not bad input
    assert "out of memory" in caplog.text
    assert not (tmp_path / "m").exists()
    assert read_manifest(tmp_path)["steps"]["critic/05_train"]["status"] == "failed"


def test_checkpoints_only_on_request_and_a_killed_run_resumes(tmp_path, cli):
    data = tmp_path / "c.json"
    data.write_text(json.dumps(sharegpt()))
    argv = CRITIC + ["--run-dir", str(tmp_path), "--dataset-file", str(data)]
    # default: the final model only, even if the trainer left a checkpoint behind
    assert exit_code(argv + ["--out-dir", str(tmp_path / "a"), "--step", "a", "--set", "save_strategy=no"]) == 0
    assert not list((tmp_path / "a").glob("checkpoint-*"))
    # a killed run with checkpoints on: checkpoint-3 complete, checkpoint-5 torn (no trainer state)
    partial = tmp_path / "b.partial"
    for n, state in ((3, True), (5, False)):
        d = partial / f"checkpoint-{n}"
        d.mkdir(parents=True)
        head = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
        (d / "model.safetensors").write_bytes(struct.pack("<Q", len(head)) + head + bytes(4))
        (d / "config.json").write_text("{}")
        if state:
            (d / "trainer_state.json").write_text("{}")
    assert exit_code(argv + ["--out-dir", str(tmp_path / "b"), "--step", "b", "--keep-checkpoints", "1"]) == 0
    args = calls(cli)[-1]["args"]
    assert args["resume_from_checkpoint"] == str(partial / "checkpoint-3")
    assert args["save_strategy"] == "steps" and args["save_only_model"] is False
    assert (tmp_path / "b" / "checkpoint-1").is_dir()  # kept when asked for
    # the recorded settings do not depend on where a run resumed from
    assert "resume_from_checkpoint" not in read_manifest(tmp_path)["steps"]["b"]["settings"]
    assert read_manifest(tmp_path)["steps"]["b"]["counts"]["resumed_from"] == "checkpoint-3"


def test_alpaca_files_train_with_the_empty_template_and_the_models_eos(tmp_path, cli, caplog):
    eos = json.loads((MODEL / "tokenizer_config.json").read_text())["eos_token"]
    data = tmp_path / "a.json"
    rec = {"instruction": "Human: q\n\nAssistant:", "input": "", "output": f"sol{eos}"}
    data.write_text(json.dumps([rec]))
    argv = ["--role", "critic", "--base-model", str(MODEL), "--format", "alpaca", "--run-dir", str(tmp_path)]
    argv += ["--dataset-file", str(data), "--out-dir", str(tmp_path / "m"), "--default-system", "ignored"]
    assert exit_code(argv + ["--template", "default"]) == 0
    args = calls(cli)[-1]["args"]
    assert args["template"] == "empty" and "default_system" not in args
    bad = tmp_path / "b.json"
    bad.write_text(json.dumps([{**rec, "output": "sol\n<|end_of_text|>"}]))
    argv[argv.index(str(data))] = str(bad)
    assert exit_code(argv + ["--template", "default", "--step", "b"]) == 2
    assert f"--eos-token {eos}" in caplog.text
    assert exit_code(argv + ["--template", "llama3", "--step", "c"]) == 2


def test_gpu_profile_checks_the_nodes_before_launching(tmp_path, cli, monkeypatch, caplog):
    data = tmp_path / "c.json"
    data.write_text(json.dumps(sharegpt()))
    argv = CRITIC[:-1] + [
        "gpu",
        "--run-dir",
        str(tmp_path),
        "--dataset-file",
        str(data),
        "--out-dir",
        str(tmp_path / "m"),
    ]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert exit_code(argv) == 2 and "sees no GPU" in caplog.text
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv("NNODES", "2")
    assert exit_code(argv) == 2 and "missing here: NODE_RANK, MASTER_ADDR, MASTER_PORT" in caplog.text
    monkeypatch.delenv("NNODES")
    assert exit_code(argv + ["--zero-stage", "3"]) == 0
    call = calls(cli)[-1]
    assert call["torchrun"] == "1" and call["args"]["deepspeed"].endswith("ds_z3_config.json")
    assert len(calls(cli)) == 1


def test_changed_training_data_is_trained_again(tmp_path, cli, caplog):
    data = tmp_path / "c.json"
    data.write_text(json.dumps(sharegpt(3)))
    argv = CRITIC + ["--run-dir", str(tmp_path), "--dataset-file", str(data), "--out-dir", str(tmp_path / "m")]
    assert exit_code(argv) == 0
    data.write_text(json.dumps(sharegpt(5)))
    assert exit_code(argv) == 0
    assert len(calls(cli)) == 2 and "training again" in caplog.text
    assert read_manifest(tmp_path)["steps"]["critic/05_train"]["counts"]["examples"] == 5


def test_same_inputs_in_another_run_reuse_the_filed_model(tmp_path, cli, caplog):
    """Two runs' iteration 0 with the same data and arguments: trained once, the second takes it."""
    reuse = tmp_path / "shared"
    runs = [tmp_path / "cell_a", tmp_path / "cell_b"]
    for run_dir in runs:
        (run_dir / "iter_0").mkdir(parents=True)
        (run_dir / "iter_0" / "sft.json").write_text(json.dumps(sharegpt(2)))
    base = ["--iter", "0", "--base-model", str(MODEL), "--template", "smollm2", "--profile", "cpu"]
    base += ["--reuse-dir", str(reuse)]
    assert exit_code(["--run-dir", str(runs[0])] + base) == 0
    assert len(calls(cli)) == 1 and "filed for reuse" in caplog.text
    (entry,) = [d for d in reuse.iterdir() if d.is_dir()]
    assert json.loads((entry / "entry.json").read_text())["source"] == str(runs[0] / "iter_0" / "actor")

    assert exit_code(["--run-dir", str(runs[1])] + base) == 0
    assert len(calls(cli)) == 1  # not trained again
    actor = runs[1] / "iter_0" / "actor"
    assert check_model_folder(actor) == [] and not actor.with_name("actor.partial").exists()
    assert (actor / "model.safetensors").samefile(entry / "model" / "model.safetensors")  # hard links
    counts = read_manifest(runs[1])["steps"]["iter_0/05_train"]["counts"]
    assert counts["reused_from"] == str(runs[0] / "iter_0" / "actor") and counts["examples"] == 2
    assert counts["train_loss"] == 1.25
    assert "not trained: reused" in (runs[1] / "iter_0" / "train.log").read_text()
    assert yaml_args(runs[1] / "iter_0" / "train.yaml")["output_dir"] == str(actor) + ".partial"
    # a rerun of the reused step is done and intact: skipped
    assert exit_code(["--run-dir", str(runs[1])] + base) == 0
    assert len(calls(cli)) == 1 and "already done" in caplog.text


def test_other_data_or_arguments_are_trained_not_reused(tmp_path, cli):
    reuse = tmp_path / "shared"
    data = tmp_path / "c.json"
    data.write_text(json.dumps(sharegpt(3)))
    argv = CRITIC + ["--run-dir", str(tmp_path), "--dataset-file", str(data), "--reuse-dir", str(reuse)]
    assert exit_code(argv + ["--out-dir", str(tmp_path / "m1"), "--step", "s1"]) == 0
    assert exit_code(argv + ["--out-dir", str(tmp_path / "m2"), "--step", "s2", "--set", "learning_rate=1e-4"]) == 0
    data.write_text(json.dumps(sharegpt(4)))
    assert exit_code(argv + ["--out-dir", str(tmp_path / "m3"), "--step", "s3"]) == 0
    assert len(calls(cli)) == 3 and len([d for d in reuse.iterdir() if d.is_dir()]) == 3
    # without a reuse folder nothing is looked up or filed
    data.write_text(json.dumps(sharegpt(3)))
    plain = CRITIC + ["--run-dir", str(tmp_path), "--dataset-file", str(data), "--out-dir", str(tmp_path / "m4")]
    plain += ["--step", "s4"]
    assert exit_code(plain) == 0 and len(calls(cli)) == 4


def test_a_broken_filed_model_is_trained_instead(tmp_path, cli, caplog):
    reuse = tmp_path / "shared"
    data = tmp_path / "c.json"
    data.write_text(json.dumps(sharegpt(3)))
    argv = CRITIC + ["--run-dir", str(tmp_path), "--dataset-file", str(data), "--reuse-dir", str(reuse)]
    assert exit_code(argv + ["--out-dir", str(tmp_path / "m1"), "--step", "s1"]) == 0
    (entry,) = [d for d in reuse.iterdir() if d.is_dir()]
    (entry / "model" / "model.safetensors").unlink()
    assert exit_code(argv + ["--out-dir", str(tmp_path / "m2"), "--step", "s2"]) == 0
    assert len(calls(cli)) == 2 and "incomplete" in caplog.text
    assert check_model_folder(tmp_path / "m2") == []
    assert check_model_folder(entry / "model") == []  # the entry was filed again by that training


def test_trainer_environment_leaves_hub_offline_mode_to_the_caller():
    from selfimprove.training.launcher import trainer_env

    assert "HF_HUB_OFFLINE" not in trainer_env({"PATH": "/bin"})
    assert trainer_env({"HF_HUB_OFFLINE": "1"})["HF_HUB_OFFLINE"] == "1"
    assert trainer_env({"HF_HUB_OFFLINE": "0"})["HF_HUB_OFFLINE"] == "0"


def test_cpu_profile_trains_in_bf16_only_where_the_cpu_has_it(tmp_path, monkeypatch):
    from selfimprove.training import launcher

    amx = tmp_path / "amx"
    amx.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_bf16 amx_tile\n\nprocessor\t: 1\n")
    plain = tmp_path / "plain"
    plain.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n")
    assert launcher.cpu_has_bf16(amx) and not launcher.cpu_has_bf16(plain)
    assert not launcher.cpu_has_bf16(tmp_path / "missing")
    for has, expected in ((True, {"bf16": True, "use_cpu": True}), (False, {"bf16": False})):
        monkeypatch.setattr(launcher, "cpu_has_bf16", lambda has=has: has)
        args = launcher.training_args("cpu", "m", "smollm2", tmp_path, "d", tmp_path / "o")
        assert {k: args.get(k) for k in expected} == expected and ("use_cpu" in args) == has
        forced = launcher.training_args("cpu", "m", "smollm2", tmp_path, "d", tmp_path / "o", {"bf16": False})
        assert forced["bf16"] is False
        gpu = launcher.training_args("gpu", "m", "llama3", tmp_path, "d", tmp_path / "o")
        assert gpu["bf16"] is True and "use_cpu" not in gpu


def test_global_batch_sets_the_accumulation_from_the_world_size(tmp_path, cli, monkeypatch, caplog):
    data = tmp_path / "c.json"
    data.write_text(json.dumps(sharegpt()))
    argv = CRITIC[:-1] + ["gpu", "--run-dir", str(tmp_path), "--dataset-file", str(data)]
    monkeypatch.delenv("NPROC_PER_NODE", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    monkeypatch.setenv("GLOBAL_BATCH", "64")  # the knob, as a driver exports it
    assert exit_code(argv + ["--out-dir", str(tmp_path / "m3"), "--step", "three"]) == 2
    assert "GLOBAL_BATCH=64 is not a multiple of per-device batch 4 x world size 3 (= 12)" in caplog.text
    assert calls(cli) == [] and "three" not in read_manifest(tmp_path)["steps"]  # refused before anything ran
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert exit_code(argv + ["--out-dir", str(tmp_path / "m2"), "--step", "two"]) == 0
    assert calls(cli)[-1]["args"]["gradient_accumulation_steps"] == 8  # 64 / (4 per device x 2 GPUs)
    assert "GLOBAL_BATCH 64 = per-device batch 4 x gradient accumulation 8 x world size 2" in caplog.text
    counts = read_manifest(tmp_path)["steps"]["two"]["counts"]
    assert (counts["global_batch"], counts["world_size"], counts["gradient_accumulation_steps"]) == (64, 2, 8)
    monkeypatch.setenv("NPROC_PER_NODE", "1")  # one process per node, as LLaMA-Factory reads it
    assert exit_code(argv + ["--out-dir", str(tmp_path / "m1"), "--step", "one", "--global-batch", "32"]) == 0
    assert calls(cli)[-1]["args"]["gradient_accumulation_steps"] == 8  # 32 / (4 x 1)
    monkeypatch.delenv("GLOBAL_BATCH")
    monkeypatch.delenv("NPROC_PER_NODE")
    assert exit_code(argv + ["--out-dir", str(tmp_path / "m0"), "--step", "off"]) == 0
    assert calls(cli)[-1]["args"]["gradient_accumulation_steps"] == 8  # 0: the profile's value, as before
    assert "global_batch" not in read_manifest(tmp_path)["steps"]["off"]["counts"]
    out = [
        "--out-dir",
        str(tmp_path / "mx"),
        "--step",
        "x",
        "--global-batch",
        "64",
        "--set",
        "gradient_accumulation_steps=2",
    ]
    assert exit_code(argv + out) == 2 and "which the training arguments also set (2)" in caplog.text
