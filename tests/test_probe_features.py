"""scripts/probe_features.py: where the critic decides, and the probe's figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("probe_features", ROOT / "scripts" / "probe_features.py")
assert _spec is not None and _spec.loader is not None
probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe)

CRITIQUE = (
    "Step sentence: Maya has 2 + 6 = 8 pens now.\nCorrectness of the step: Correct\nExplanation: fine.\n\n"
    "Step sentence: Maya has 8 + 6 = 14 pens left.\nCorrectness of the step: Wrong\nExplanation: no.\n\n"
    "Step sentence: The answer is 14.\nCorrectness of the step: Wrong\nExplanation: no.\n\n"
    "Correctness of the final answer: Wrong\nExplanation: no."
)


def test_decisions_stop_at_the_first_wrong_step_and_end_at_the_cue():
    points = probe.decision_points(CRITIQUE)
    assert [(w, last) for _, w, last in points] == [(False, False), (True, False)]
    for end, _, _ in points:
        assert CRITIQUE[:end].endswith("Correctness of the step:")


def test_a_correct_solution_has_a_decision_per_step_the_last_one_flagged():
    text = CRITIQUE.replace("Wrong", "Correct")
    assert [(w, last) for _, w, last in probe.decision_points(text)] == [(False, False), (False, False), (False, True)]


def test_the_final_verdict_is_not_a_step_decision():
    assert probe.decision_points("Correctness of the final answer: Wrong") == []


@pytest.mark.parametrize(
    ("scores", "labels", "auc", "bacc"),
    [
        ([2.0, 1.0, -1.0, -2.0], [True, True, False, False], 1.0, 1.0),
        ([-2.0, -1.0, 1.0, 2.0], [True, True, False, False], 0.0, 0.0),
        ([1.0, -1.0, 1.0, 1.0], [True, True, False, False], 0.25, 0.25),
    ],
)
def test_auc_and_balanced_accuracy(scores, labels, auc, bacc):
    assert probe.auc(scores, labels) == pytest.approx(auc)
    assert probe.balanced_accuracy(scores, labels) == pytest.approx(bacc)


def test_a_probe_separates_what_one_feature_separates():
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 8, generator=gen)
    y = x[:, 3] > 0.5  # imbalanced: about 30 % positive
    score = probe.fit_probe(x, y)(x)
    assert probe.auc(score, y.tolist()) > 0.95
    assert probe.balanced_accuracy(score, y.tolist()) > 0.9
