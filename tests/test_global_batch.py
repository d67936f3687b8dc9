"""GLOBAL_BATCH: the gradient accumulation computed from the world size, and refused when it does not divide."""

from __future__ import annotations

import pytest

from selfimprove.core import config as C
from selfimprove.core.errors import UsageError
from selfimprove.stages.config import global_batch_problem
from selfimprove.training import distributed
from selfimprove.training.launcher import PROFILES, describe_batch, global_batch_args


@pytest.mark.parametrize(
    "global_batch, per_device, world, accumulation",
    [(256, 4, 8, 8), (256, 4, 4, 16), (256, 4, 16, 4), (256, 4, 64, 1), (256, 2, 8, 16), (7, 1, 1, 7)],
)
def test_accumulation_is_the_global_batch_over_per_device_times_world(global_batch, per_device, world, accumulation):
    args = {**PROFILES["gpu"], "per_device_train_batch_size": per_device}
    out, record = global_batch_args(args, global_batch, world)
    assert out["gradient_accumulation_steps"] == accumulation
    assert out["per_device_train_batch_size"] * accumulation * world == global_batch
    assert record == {
        "global_batch": global_batch,
        "per_device_train_batch_size": per_device,
        "world_size": world,
        "gradient_accumulation_steps": accumulation,
    }
    assert args["gradient_accumulation_steps"] == 8  # the caller's arguments are left as they were
    assert describe_batch(record) == (
        f"GLOBAL_BATCH {global_batch} = per-device batch {per_device} x gradient accumulation {accumulation} "
        f"x world size {world}"
    )


@pytest.mark.parametrize(
    "global_batch, per_device, world, overrides, message",
    [
        (256, 4, 3, None, "GLOBAL_BATCH=256 is not a multiple of per-device batch 4 x world size 3 (= 12)"),
        (256, 4, 128, None, "is not a multiple of per-device batch 4 x world size 128 (= 512)"),
        (100, 8, 2, None, "choose a multiple of 16"),
        (256, 4, None, None, "this node's GPUs are unknown"),
        (256, 4, 8, {"gradient_accumulation_steps": 2}, "which the training arguments also set (2)"),
    ],
)
def test_a_global_batch_that_cannot_be_split_is_refused_in_one_line(
    global_batch, per_device, world, overrides, message
):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        global_batch_args({"per_device_train_batch_size": per_device}, global_batch, world, overrides)
    assert "\n" not in str(e.value)


def test_world_size_is_what_llamafactory_launches():
    one = distributed.Topology()
    assert distributed.world_size(one, 8, "gpu", {}) == 8
    assert distributed.world_size(one, None, "gpu", {}) is None
    assert distributed.world_size(one, 8, "cpu", {}) == 1  # no torchrun: one process
    two_nodes = distributed.read_topology(
        {"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "node0", "MASTER_PORT": "29500", "NPROC_PER_NODE": "4"},
        8,
        resolve=lambda host: None,
    )
    assert distributed.world_size(two_nodes, 8, "gpu", {}) == 8  # 4 per node (NPROC_PER_NODE) x 2 nodes
    ray = distributed.read_topology({"USE_RAY": "1"}, 8)
    assert distributed.world_size(ray, 8, "gpu", {"ray_num_workers": 16}) == 16
    assert distributed.world_size(ray, 8, "gpu", {}) == 1


def test_the_knob_is_checked_and_off_by_default():
    assert C.load(C.INFERENCE, env={}).global_batch == 0
    assert C.load(C.CRITIC, env={"GLOBAL_BATCH": "256"}).global_batch == 256
    with pytest.raises(UsageError, match=r"GLOBAL_BATCH=-1 \(environment\): must be >= 0"):
        C.load(C.SELFTALK, env={"GLOBAL_BATCH": "-1"})
    assert "GLOBAL_BATCH" not in C.load(C.EVALUATE, env={}).as_dict(C.EVALUATE)  # the evaluation trains nothing


def test_the_drivers_refuse_it_before_the_first_stage(monkeypatch):
    monkeypatch.delenv("NNODES", raising=False)
    monkeypatch.delenv("NPROC_PER_NODE", raising=False)
    env = {"PROFILE": "gpu", "GLOBAL_BATCH": "256", "CUDA_VISIBLE_DEVICES": "0,1,2"}
    problem = global_batch_problem(C.load(C.INFERENCE, env=env), C.INFERENCE, env)
    assert problem and "GLOBAL_BATCH=256 is not a multiple of per-device batch 4 x world size 3" in problem
    env["CUDA_VISIBLE_DEVICES"] = "0,1"
    assert global_batch_problem(C.load(C.INFERENCE, env=env), C.INFERENCE, env) is None
    env["TRAIN_ARGS"] = "per_device_train_batch_size=256"  # 256 x 2 GPUs is more than 256
    assert "(= 512)" in (global_batch_problem(C.load(C.INFERENCE, env=env), C.INFERENCE, env) or "")
    critic = {"PROFILE": "cpu", "GLOBAL_BATCH": "6", "CRITIC_TRAIN_ARGS": "per_device_train_batch_size=4"}
    assert "GLOBAL_BATCH=6 is not a multiple of per-device batch 4 x world size 1" in (
        global_batch_problem(C.load(C.CRITIC, env=critic), C.CRITIC, critic) or ""
    )
    env = {"PROFILE": "gpu", "GLOBAL_BATCH": "256", "CUDA_VISIBLE_DEVICES": ""}
    assert global_batch_problem(C.load(C.SELFTALK, env=env), C.SELFTALK, env) is None  # no GPU: the stage says so
