"""One row of the one-player comparison as a flow: settings and engines in, ``row.json`` out.

:func:`evaluate_row` takes a :class:`RowConfig`, the question records, the actor and (for
``sft_critic``) the critic, generates the row's files (:mod:`selfimprove.selftalk.rows`) and
writes the row (:func:`~selfimprove.selftalk.table.row_results`). The ``selftalk_eval`` command
builds the configuration from its options and the engines from its engine options, then calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from selfimprove.core.io import atomic_write_json
from selfimprove.core.layout import RunLayout
from selfimprove.core.records import Question
from selfimprove.critic.programmatic import critique
from selfimprove.generation.engines import Engine, SamplingParams
from selfimprove.selftalk.rows import CritiqueFn, sample_row, selfcorrect_row, sft_critic_row
from selfimprove.selftalk.table import not_trained_row, row_results


def programmatic_critique(grader: str) -> CritiqueFn:
    """The programmatic critic (reference-guided: an upper bound) as a critique function."""
    return lambda q, response: critique(q, response, grader)


@dataclass(frozen=True)
class RowConfig:
    """Every setting of one row (the ``selftalk_eval`` command's options, resolved)."""

    method: str  #: one of :data:`selfimprove.selftalk.table.METHODS`
    questions: str  #: where the question records came from (recorded in the row)
    out_dir: Path
    actor_model: str
    critic_model: str | None
    label: str | None
    pool_size: int
    temperature: float
    max_tokens: int
    critic_max_tokens: int
    grader: str
    voting: str
    seed: int
    chunk_size: int

    def record(self, n_questions: int) -> dict:
        """The configuration as ``row.json`` records it."""
        return {
            "actor": self.label or self.actor_model,
            "actor_model": self.actor_model,
            "critic": self.critic_model if self.method == "sft_critic" else None,
            "questions": self.questions,
            "n_questions": n_questions,
            "pool_size": self.pool_size,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "critic_max_tokens": self.critic_max_tokens,
            "grader": self.grader,
            "voting": self.voting,
            "seed": self.seed,
        }

    @property
    def row_file(self) -> Path:
        return RunLayout.onep_file(self.out_dir, "row")


def write_not_trained_row(cfg: RowConfig, n_questions: int, reason: str) -> dict:
    """The row of a model that was not trained (its data file had no example): no numbers."""
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    row = not_trained_row(cfg.method, cfg.record(n_questions), reason)
    atomic_write_json(cfg.row_file, row)
    return row


def evaluate_row(
    cfg: RowConfig,
    questions: list[Question],
    actor: Engine,
    load_critic: Callable[[], Engine | CritiqueFn] | None = None,
) -> tuple[dict, dict]:
    """Generate what is missing of the row in ``cfg.out_dir`` and write ``row.json``.

    ``load_critic`` gives the separate critic of ``sft_critic`` (an engine or a critique function).
    Returns the row and the counts of what was generated.
    """
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    config = cfg.record(len(questions))
    greedy_p = SamplingParams(n=1, temperature=0.0, max_tokens=cfg.max_tokens, seed=cfg.seed)
    pool_p = SamplingParams(n=cfg.pool_size, temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed)
    refine_p = SamplingParams(n=1, temperature=0.0, max_tokens=cfg.max_tokens, seed=cfg.seed)
    critic_p = SamplingParams(n=1, temperature=0.0, max_tokens=cfg.critic_max_tokens, seed=cfg.seed)
    greedy, pool = sample_row(
        actor, questions, cfg.out_dir, cfg.pool_size, greedy_p, pool_p, cfg.grader, cfg.chunk_size
    )
    counts: dict = {"greedy_correct": sum(g["correct"] for g in greedy), "pool_samples": len(pool)}
    if cfg.method == "selftalk":
        row = row_results("selftalk", questions, greedy, pool, config)
    elif cfg.method == "selfcorrect":
        row, c = selfcorrect_row(
            actor, questions, greedy, pool, cfg.out_dir, config, critic_p, refine_p, cfg.grader, cfg.chunk_size
        )
        counts.update(c)
    else:
        if load_critic is None:
            raise ValueError("the sft_critic row needs load_critic")
        row, c = sft_critic_row(
            actor,
            load_critic(),
            questions,
            greedy,
            pool,
            cfg.out_dir,
            config,
            critic_p,
            refine_p,
            cfg.grader,
            cfg.chunk_size,
        )
        counts.update(c)
    atomic_write_json(cfg.row_file, row)
    return row, counts
