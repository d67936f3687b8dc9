"""scripts/probe_critic.py: the AUC it reports, and the probe's prompt is the critic's own."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("probe_critic", ROOT / "scripts" / "probe_critic.py")
assert _spec is not None and _spec.loader is not None
probe_critic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe_critic)


@pytest.mark.parametrize(
    ("pos", "neg", "expected"),
    [
        ([2.0, 3.0], [0.0, 1.0], 1.0),  # every wrong first step scores above every right one
        ([0.0, 1.0], [2.0, 3.0], 0.0),
        ([1.0, 1.0], [1.0, 1.0], 0.5),  # ties count half
        ([0.0, 2.0], [1.0], 0.5),
        ([3.0, 1.0, 2.0], [0.0, 2.0], 4.5 / 6),
    ],
)
def test_auc_is_the_share_of_pairs_ranked_right(pos, neg, expected):
    assert probe_critic.auc(pos, neg) == pytest.approx(expected)


def test_auc_of_an_empty_class_is_unknown():
    assert probe_critic.auc([], [1.0]) is None and probe_critic.auc([1.0], []) is None
