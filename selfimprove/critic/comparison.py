"""Several critics on the same held-out responses (the paper's Table 2), as a flow.

:func:`compare_critics` takes its settings (:class:`CriticComparisonConfig`), the held-out paths,
the critics to compare (``NAME -> SPEC``) and a :class:`CriticEngines` that builds the engines
when first needed. It draws the balanced responses, scores every critic
(:func:`~selfimprove.critic.evaluate.evaluate_critic`, and on ProcessBench the model critics), and
writes ``responses.jsonl``, the per-critic files, ``results.json`` and the report. The
``critic_eval`` command builds the configuration and the engine source from its options, then
calls it; a test gives scripted engines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from selfimprove.core.errors import UsageError
from selfimprove.core.io import atomic_write_json, atomic_write_jsonl
from selfimprove.core.layout import RunLayout
from selfimprove.critic.evaluate import (
    NONE,
    as_samples,
    balanced_responses,
    evaluate_critic,
    processbench_metrics,
    response_summary,
)
from selfimprove.critic.programmatic import NAME as PROGRAMMATIC
from selfimprove.critic.report import write_report
from selfimprove.generation.engines import Engine, SamplingParams
from selfimprove.generation.tasks import critique_samples


@dataclass(frozen=True)
class CriticComparisonConfig:
    """Every setting of one critic comparison (the ``critic_eval`` command's options, resolved)."""

    out_dir: Path
    source: str  #: where the held-out paths came from (named in errors)
    actor_model: str
    per_class: int
    critic_params: SamplingParams
    refine_params: SamplingParams
    grader: str
    seed: int
    chunk_size: int
    grade_workers: int | None
    processbench_split: str | None = None


@dataclass
class CriticEngines:
    """Where the flow gets its engines; each is built only when a critic needs it.

    ``load_actor`` builds the actor (once; the flow closes it at the end). ``load_critic(spec)``
    builds the engine of a model critic (a folder, a hub id or ``api:MODEL``; closed after that
    critic). ``is_actor(spec)``: the spec names the actor's own model, which then serves as critic.
    """

    load_actor: Callable[[], Engine]
    load_critic: Callable[[str], Engine]
    is_actor: Callable[[str], bool]
    actor: Engine | None = None  #: an actor built already (e.g. for the flawed paths)

    def the_actor(self) -> Engine:
        if self.actor is None:
            self.actor = self.load_actor()
        return self.actor

    def close(self) -> None:
        if self.actor is not None:
            self.actor.close()


def compare_critics(
    cfg: CriticComparisonConfig,
    paths: Sequence[dict],
    critics: Sequence[tuple[str, str]],
    engines: CriticEngines,
    processbench: Sequence[dict] = (),
) -> tuple[dict, Path]:
    """Score every critic on the balanced responses drawn from ``paths``; write the results and the
    report, and return the results and the report's path."""
    responses = balanced_responses(paths, cfg.per_class, cfg.seed)
    if not responses:
        raise UsageError(f"{cfg.source}: no correct and wrong selected paths to build a balanced set from")
    atomic_write_jsonl(RunLayout.critic_eval_file(cfg.out_dir, "responses"), responses)
    results: dict = {"actor": cfg.actor_model, "responses": response_summary(responses), "critics": {}}
    if processbench:
        results["processbench"] = {"split": cfg.processbench_split, "n": len(processbench), "critics": {}}
    try:
        for name, spec in critics:
            t0 = time.time()
            metrics = _score_critic(cfg, name, spec, responses, engines, processbench, results)
            metrics["model"] = spec
            metrics["seconds"] = round(time.time() - t0, 1)
            results["critics"][name] = metrics
    finally:
        engines.close()
    atomic_write_json(RunLayout.critic_eval_file(cfg.out_dir, "results"), results)
    return results, write_report(results, cfg.out_dir)


def _score_critic(
    cfg: CriticComparisonConfig,
    name: str,
    spec: str,
    responses: list[dict],
    engines: CriticEngines,
    processbench: Sequence[dict],
    results: dict,
) -> dict:
    """One critic's metrics (and its ProcessBench scores into ``results``); closes its own engine."""
    own: Engine | None = None
    critic: Engine | str
    if spec in (NONE, PROGRAMMATIC):
        critic = spec
    elif engines.is_actor(spec):
        critic = engines.the_actor()
    else:
        own = critic = engines.load_critic(spec)
    actor = engines.the_actor() if spec != NONE else engines.actor
    try:
        metrics = evaluate_critic(
            name,
            critic,
            actor,
            responses,
            cfg.out_dir,
            cfg.critic_params,
            cfg.refine_params,
            cfg.grader,
            cfg.chunk_size,
            cfg.grade_workers,
        )
        if processbench and isinstance(critic, Engine):
            pb_crit, _ = critique_samples(
                critic,
                as_samples(processbench),
                RunLayout.critic_eval_file(cfg.out_dir, "processbench", critic=name),
                cfg.critic_params,
                cfg.chunk_size,
            )
            results["processbench"]["critics"][name] = processbench_metrics(processbench, pb_crit)
    finally:
        if own is not None:
            own.close()
    return metrics
