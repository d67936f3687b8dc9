"""Test-time supervision as a flow: evaluate one actor with and without a critique model.

:func:`evaluate_test_time` takes its settings (:class:`TestTimeConfig`), the question records and
the engines, and writes the evaluation folder (file names: :data:`selfimprove.core.layout.EVAL_FILES`):
greedy answers, a pool of N samples, the critic on every pool sample and one guided refinement of
each, the sequential critique-refine chains, and ``results.json``. The ``evaluate`` command builds
the configuration from its options and the engines from its engine options, then calls it; a test
calls it with scripted engines.

It lives here, in the critic's package, because it drives both the generation (sampling,
critiquing, refining) and the evaluation's metrics, and the layer rules let only the critic's and
later packages import both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfimprove.core.io import atomic_write_json
from selfimprove.core.layout import EVAL_FILES
from selfimprove.core.records import ChainStep, Critique, Question, Refinement, Sample
from selfimprove.evaluation.joins import by_sample
from selfimprove.evaluation.metrics import compute_results
from selfimprove.evaluation.scoring import compare_scorings
from selfimprove.generation.engines import Engine, SamplingParams
from selfimprove.generation.sequential import run_sequential
from selfimprove.generation.tasks import critique_samples, refine_critiques, sample_questions

log = logging.getLogger(__name__)

#: settings that may grow between runs of one folder (only the missing generations are made) or
#: that only count answers; the others define the generations and are pinned by the run's step
EXTENDABLE = (
    "voting",
    "pool_size",
    "rounds",
    "sequential_mode",
    "sequential_chains",
    "sequential_headline",
    "n_questions",
    "actor",
)


def _no_count(**_: Any) -> None:
    """Counts nowhere (a flow run outside a run's step)."""


@dataclass(frozen=True)
class TestTimeConfig:
    """Every setting of one test-time evaluation (the ``evaluate`` command's options, resolved)."""

    __test__ = False  # a settings class, not a test (its name starts with "Test")

    questions: str  #: where the question records came from (recorded in the results)
    out_dir: Path
    actor_model: str
    critic_model: str | None
    use_critic: bool
    pool_size: int
    temperature: float
    top_p: float
    max_tokens: int
    critic_temperature: float
    critic_max_tokens: int
    rounds: int
    sequential_mode: str
    sequential_chains: int
    only_final_sequential: bool
    grader: str
    voting: str
    seed: int
    chunk_size: int
    grade_workers: int | None
    label: str | None = None

    def record(self, n_questions: int) -> dict:
        """The configuration as ``results.json`` records it."""
        return {
            "actor": self.label or self.actor_model,
            "actor_model": self.actor_model,
            "critic": self.critic_model if self.use_critic else None,
            "questions": self.questions,
            "n_questions": n_questions,
            "pool_size": self.pool_size,
            "temperature": self.temperature,
            "rounds": self.rounds if self.use_critic else 0,
            "sequential_mode": self.sequential_mode,
            "sequential_chains": self.sequential_chains,
            "sequential_headline": "final" if self.only_final_sequential else "mv",
            "grader": self.grader,
            "voting": self.voting,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }

    def files(self) -> dict[str, Path]:
        """The evaluation folder's files by role."""
        return {role: self.out_dir / name for role, name in EVAL_FILES.items()}

    def params(self) -> dict[str, SamplingParams]:
        """Sampling parameters of the greedy answers, the pool, the refinements and the critiques."""
        return {
            "greedy": SamplingParams(n=1, temperature=0.0, max_tokens=self.max_tokens, seed=self.seed),
            "pool": SamplingParams(
                n=self.pool_size,
                temperature=self.temperature,
                top_p=self.top_p,
                max_tokens=self.max_tokens,
                seed=self.seed,
            ),
            "refine": SamplingParams(n=1, temperature=0.0, max_tokens=self.max_tokens, seed=self.seed),
            "critic": SamplingParams(
                n=1, temperature=self.critic_temperature, max_tokens=self.critic_max_tokens, seed=self.seed
            ),
        }


def evaluate_test_time(
    cfg: TestTimeConfig,
    questions: list[Question],
    actor: Engine,
    load_critic: Callable[[], Engine] | None = None,
    count: Callable[..., None] = _no_count,
) -> dict:
    """Generate what is missing in ``cfg.out_dir``, compute and write ``results.json``; return it.

    ``load_critic`` gives the critique model (called once, after the actor's answers, only with
    ``cfg.use_critic``); ``count`` receives the step's counters (``Step.count``).
    """
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    files, params, config = cfg.files(), cfg.params(), cfg.record(len(questions))
    greedy, pool = _answers(cfg, questions, actor, files, params, count)
    critiques: list[Critique] | None = None
    refinements: list[Refinement] | None = None
    chain: list[ChainStep] | None = None
    if cfg.use_critic:
        if load_critic is None:
            raise ValueError("a test-time evaluation with the critic needs load_critic")
        critic = load_critic()
        critiques, refinements = _critique_and_refine(cfg, questions, pool, actor, critic, files, params, count)
        if cfg.rounds:
            start = greedy if cfg.sequential_chains == 1 else pool
            chain, sc = run_sequential(
                actor,
                critic,
                questions,
                start,
                cfg.out_dir,
                cfg.rounds,
                cfg.sequential_mode,
                params["refine"],
                params["critic"],
                cfg.grader,
                cfg.chunk_size,
                chains=cfg.sequential_chains,
            )
            count(**sc)
    results = compute_results(questions, greedy, pool, critiques, refinements, chain, config)
    # a grader or vote other than the project's: the project's numbers beside the primary ones
    scoring = compare_scorings(
        questions, greedy, pool, critiques, refinements, chain, config, results, cfg.grade_workers
    )
    if scoring is not None:
        results["scoring"] = scoring
    atomic_write_json(files["results"], results)
    _report_unanswered(results["unanswered"], count)
    return results


def _answers(
    cfg: TestTimeConfig,
    questions: list[Question],
    actor: Engine,
    files: dict[str, Path],
    params: dict[str, SamplingParams],
    count: Callable[..., None],
) -> tuple[list[Sample], list[Sample]]:
    """The greedy answer and the pool of ``cfg.pool_size`` samples of every question."""
    greedy, c = sample_questions(
        actor,
        questions,
        files["greedy"],
        params["greedy"],
        cfg.grader,
        cfg.chunk_size,
        cfg.grade_workers,
        desc="greedy",
    )
    pool, _ = sample_questions(
        actor,
        questions,
        files["pool"],
        params["pool"],
        cfg.grader,
        cfg.chunk_size,
        cfg.grade_workers,
        desc=f"pool of {cfg.pool_size}",
    )
    pool = [p for p in pool if p["index"] < cfg.pool_size]
    count(greedy_correct=c["correct"], pool_samples=len(pool))
    return greedy, pool


def _critique_and_refine(
    cfg: TestTimeConfig,
    questions: list[Question],
    pool: list[Sample],
    actor: Engine,
    critic: Engine,
    files: dict[str, Path],
    params: dict[str, SamplingParams],
    count: Callable[..., None],
) -> tuple[list[Critique], list[Refinement]]:
    """The critic on every pool sample and the actor's refinement of each, by sample id."""
    qtext = {q["id"]: q["question"] for q in questions}
    crits, cc = critique_samples(
        critic, pool, files["pool_critiques"], params["critic"], cfg.chunk_size, desc="critiquing pool"
    )
    samples: dict[str, Sample] = {s["id"]: {**s, "question": qtext[s["qid"]]} for s in pool}
    crits = [x for x in crits if x["sample_id"] in samples]
    refs, rc = refine_critiques(
        actor,
        crits,
        samples,
        files["pool_refinements"],
        params["refine"],
        reserved_new_data=10**9,
        grader=cfg.grader,
        chunk_size=cfg.chunk_size,
        grade_workers=cfg.grade_workers,
        desc="refining pool",
    )
    refs = [x for x in refs if x["sample_id"] in samples]
    count(format_violations=cc["format_violations"], refined_correct=rc["correct"])
    return by_sample(crits, refs)


def _report_unanswered(unanswered: dict, count: Callable[..., None]) -> None:
    """Count and log the items not sent (prompt longer than the context window)."""
    count(unanswered=unanswered["count"], unanswered_questions=unanswered["questions"])
    if unanswered["count"]:
        log.warning(
            "%d item(s) unanswered (prompt longer than the context window, graded wrong), of question(s) %s",
            unanswered["count"],
            ", ".join(unanswered["questions"]),
        )
