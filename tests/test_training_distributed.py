"""Multi-node settings are checked before launch: a clear message instead of a hang."""

from __future__ import annotations

import os
import threading
import time

import pytest

from selfimprove.training.distributed import (
    DistributedError,
    Topology,
    launch_env,
    read_topology,
    visible_gpus,
    wait_for_nodes,
)

NODES = {"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "head.cluster", "MASTER_PORT": "29500"}


def resolves(host: str) -> object:
    return [("ok",)]


def unknown(host: str) -> object:
    raise OSError(-2, "Name or service not known")


def test_single_node_defaults():
    topo = read_topology({}, gpus=None)
    assert topo == Topology() and not topo.multinode and topo.is_main
    assert launch_env(topo, "cpu") == {} and launch_env(topo, "gpu") == {"FORCE_TORCHRUN": "1"}
    # an explicit FORCE_TORCHRUN passes through untouched; Ray launches its own workers
    assert launch_env(read_topology({"FORCE_TORCHRUN": "0"}), "gpu") == {}
    assert launch_env(read_topology({"USE_RAY": "1"}), "gpu") == {}


def test_complete_multinode_settings():
    topo = read_topology(NODES, gpus=8, resolve=resolves)
    assert (topo.nnodes, topo.node_rank, topo.master_addr, topo.master_port) == (2, 1, "head.cluster", 29500)
    assert topo.multinode and not topo.is_main
    assert launch_env(topo, "cpu") == {"FORCE_TORCHRUN": "1"}


@pytest.mark.parametrize(
    "env, message",
    [
        ({"NNODES": "2", "NODE_RANK": "0"}, "missing here: MASTER_ADDR, MASTER_PORT"),
        ({**NODES, "MASTER_ADDR": ""}, "missing here: MASTER_ADDR"),
        ({**NODES, "NODE_RANK": "2"}, "NODE_RANK must be in 0..1"),
        ({**NODES, "NODE_RANK": "-1"}, "NODE_RANK must be >= 0"),
        ({**NODES, "NNODES": "two"}, "NNODES must be an integer"),
        ({**NODES, "NNODES": "0"}, "NNODES must be >= 1"),
        ({**NODES, "MASTER_PORT": "70000"}, "MASTER_PORT must be in 1..65535"),
        ({**NODES, "FORCE_TORCHRUN": "0"}, "unset FORCE_TORCHRUN=0"),
        ({"FORCE_TORCHRUN": "maybe"}, "FORCE_TORCHRUN must be 0 or 1"),
        ({"NODE_RANK": "1"}, "NODE_RANK=1 without NNODES > 1"),
        ({"NPROC_PER_NODE": "4"}, "NPROC_PER_NODE=4 but this node sees 2 GPU(s)"),
        ({**NODES, "USE_RAY": "1"}, "USE_RAY=1 places the workers through Ray"),
    ],
)
def test_bad_settings_are_refused(env, message):
    with pytest.raises(DistributedError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        read_topology(env, gpus=2, resolve=resolves)


def test_unresolvable_master_is_refused():
    with pytest.raises(DistributedError, match="MASTER_ADDR 'head.cluster' does not resolve"):
        read_topology(NODES, gpus=8, resolve=unknown)
    # the real resolver on a name that cannot exist
    with pytest.raises(DistributedError, match="does not resolve"):
        read_topology({**NODES, "MASTER_ADDR": "no-such-host.invalid"}, gpus=8)


def test_visible_gpus_from_cuda_visible_devices():
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "0,3"}) == 2
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == 0
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == 0


def test_nodes_meet_through_the_run_folder(tmp_path):
    topo0 = read_topology({**NODES, "NODE_RANK": "0"}, resolve=resolves)
    topo1 = read_topology(NODES, resolve=resolves)
    other = threading.Thread(target=wait_for_nodes, args=(tmp_path, topo1, 30, 0.05))
    other.start()
    wait_for_nodes(tmp_path, topo0, timeout=30, poll=0.05)
    other.join(30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node0", "node1"]


def test_a_node_that_never_comes_is_named(tmp_path):
    topo = read_topology({**NODES, "NNODES": "3", "NODE_RANK": "0"}, resolve=resolves)
    # a marker from an attempt long ago does not count
    (tmp_path / "node2").write_text("old")
    os.utime(tmp_path / "node2", (time.time() - 3600, time.time() - 3600))
    with pytest.raises(DistributedError, match=r"node\(s\) 1, 2 of 3 left no marker"):
        wait_for_nodes(tmp_path, topo, timeout=0.2, poll=0.05)
