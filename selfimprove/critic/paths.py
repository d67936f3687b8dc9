"""Flawed reasoning paths (AutoMathCritique, stage 1): the solutions critiques are written about.

Strategies, selectable and mixable (each record is tagged with its ``strategy``, the ``step``
index t where the strategy put the error, and the ``mistake_type`` where known). A step is a
line of the solution.

* ``rg1`` — sampling from scratch: the actor's own samples at the normal temperature. The wrong
  ones are kept, and up to ``keep_correct`` correct ones per question, so that the critic also
  learns to say "Correct".
* ``rg2`` — error-location-aware: each RG1 sample's first t lines (t drawn from 1 .. lines-1)
  are kept and the actor continues from step t at a raised temperature (``rg2_temperature``);
  ``step`` = t.
* ``rg3`` — detailed mistakes: line t of the reference solution is rewritten to contain a mistake
  of a named type (:data:`~selfimprove.critic.prompts.MISTAKE_TYPES`), by a second model
  (``inserter="model"``, prompted with :func:`~selfimprove.critic.prompts.insert_prompt`) or by the
  programmatic inserter (``inserter="programmatic"``, :mod:`selfimprove.critic.insert`: the first
  error is exactly at t); then the actor continues (``rg3_continue="actor"``), or the rest of the
  reference solution is carried forward from the wrong value (``rg3_continue="reference"``,
  :func:`~selfimprove.critic.insert.carry_forward`: no sampling, so thousands of paths take
  seconds). ``step`` = t, ``mistake_type`` and ``continued_by`` recorded.
* ``reference`` — the reference solution in the actor's answer format: a correct path (the
  embedded model rarely writes one itself).

Ids: ``<qid>/ref``, ``<qid>/rg1/<j>``, ``<qid>/rg2/<j>`` (continuing ``<qid>/rg1/<j>``),
``<qid>/rg3/<j>``. Every record is graded (``pred``, ``correct``) and carries ``selected``: the
paths handed to annotation (not empty, at most ``max_steps`` lines, the keep-correct rule). RG1
samples are generated whenever RG2 needs them; they are only selected when ``rg1`` is chosen.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from selfimprove.core.io import ResumableJsonl, atomic_write_jsonl, chunks
from selfimprove.core.knobs_critic import STRATEGIES
from selfimprove.core.records import Question, natural_key
from selfimprove.critic.insert import (
    ARITHMETIC_ONLY,
    PROGRAMMATIC_TYPES,
    Insertion,
    candidate_steps,
    carry_forward,
    insert_mistake,
)
from selfimprove.critic.programmatic import solution_steps, true_steps
from selfimprove.critic.prompts import MISTAKE_TYPES, insert_prompt
from selfimprove.generation.engines import Completion, Engine, SamplingParams
from selfimprove.generation.loop import generate_into, grade_records
from selfimprove.generation.prompts import SOLUTION_PREFIX, Prompt, solve_prompt
from selfimprove.training.export import reference_solution

INSERTERS = ("programmatic", "model")
RG3_CONTINUATIONS = ("actor", "reference")
_CARRY_TRIES = 8  # draws of an insertion until one carries forward cleanly


@dataclass(frozen=True)
class PathSettings:
    strategies: tuple[str, ...] = ("rg1", "rg3", "reference")
    samples: int = 2  # RG1 samples per question (RG2 continues each of them)
    temperature: float = 0.7
    rg2_temperature: float = 1.0
    rg3_per_question: int = 1
    rg3_continue: str = "actor"  # who writes the steps after the inserted mistake: actor, or reference (carried)
    inserter: str = "programmatic"
    mistake_types: tuple[str, ...] = tuple(MISTAKE_TYPES)
    keep_correct: int = 1  # correct RG1 (and RG2) paths kept per question
    max_steps: int = 12  # longer paths are not selected
    max_tokens: int = 256
    seed: int = 0
    grader: str = "default"

    def __post_init__(self) -> None:
        bad = [s for s in self.strategies if s not in STRATEGIES]
        if bad or not self.strategies:
            raise ValueError(f"strategies must be some of {', '.join(STRATEGIES)}, not {','.join(self.strategies)!r}")
        if self.rg3_continue not in RG3_CONTINUATIONS:
            raise ValueError(f"rg3_continue must be one of {', '.join(RG3_CONTINUATIONS)}, not {self.rg3_continue!r}")
        if self.inserter not in INSERTERS:
            raise ValueError(f"inserter must be one of {', '.join(INSERTERS)}, not {self.inserter!r}")
        unknown = [t for t in self.mistake_types if t not in MISTAKE_TYPES]
        if unknown or not self.mistake_types:
            raise ValueError(f"unknown mistake type(s) {unknown}; the types are: {', '.join(MISTAKE_TYPES)}")

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def needs_actor(self) -> bool:
        """Whether any strategy samples from the actor (RG3 carried forward with the programmatic
        inserter and the reference paths need no model)."""
        sampled = {"rg1", "rg2"} & set(self.strategies)
        rg3 = "rg3" in self.strategies and (self.rg3_continue == "actor" or self.inserter == "model")
        return bool(sampled) or rg3


def continue_prompt(q: Question, lines: Sequence[str]) -> Prompt:
    """The actor's solve prompt with the reply already started by ``lines``."""
    base = solve_prompt(q["question"], q["dataset_type"])
    return replace(base, prefix=SOLUTION_PREFIX + "".join(line + "\n" for line in lines))


def _rng(seed: int, key: str) -> random.Random:
    return random.Random(f"{seed}:{key}")


def _path_record(q: Question, pid: str, strategy: str, response: str, **extra) -> dict:
    rec: dict[str, Any] = {
        "id": pid,
        "qid": q["id"],
        "strategy": strategy,
        "step": None,
        "mistake_type": None,
        "dataset": q.get("dataset"),
        "dataset_type": q["dataset_type"],
        "level": q.get("level"),
        "question": q["question"],
        "gold": q["gold"],
        "response": response,
        "empty": not solution_steps(response),
    }
    if q.get("steps"):
        rec["steps"] = q["steps"]
    rec.update(extra)
    return rec


def _generate(
    out: ResumableJsonl,
    jobs: list[dict],
    engine: Engine,
    params: SamplingParams,
    build: Callable[[dict], Prompt],
    make: Callable[[dict, Completion], dict],
    grader: str,
    grade_workers: int | None,
    chunk_size: int,
    desc: str,
) -> dict:
    return generate_into(
        out,
        jobs,
        engine,
        params,
        build_prompt=build,
        make_records=lambda job, comps: [make(job, comps[0])],
        expected_ids=lambda job: [job["id"]],
        postprocess=lambda recs: grade_records(recs, grader, grade_workers),
        chunk_size=chunk_size,
        desc=desc,
    )


def build_paths(
    actor: Engine | None,
    questions: Sequence[Question],
    out_path,
    settings: PathSettings,
    inserter: Engine | None = None,
    chunk_size: int = 512,
    grade_workers: int | None = None,
) -> tuple[list[dict], dict]:
    """Write the flawed paths of every strategy in ``settings`` into ``out_path`` (resumable).
    ``actor`` may be None when only ``reference`` paths are asked for."""
    s = settings
    if actor is None and s.needs_actor:
        raise ValueError("rg1, rg2 and rg3 continued by the actor need an actor engine")
    out = ResumableJsonl(out_path)
    counts: dict[str, dict] = {}
    base = SamplingParams(n=1, temperature=s.temperature, max_tokens=s.max_tokens, seed=s.seed)
    qmap = {q["id"]: q for q in questions}

    if "reference" in s.strategies:
        recs = [
            _path_record(q, f"{q['id']}/ref", "reference", reference_solution(q, strip_calculator=True), model=None)
            for q in questions
            if q.get("reference") and f"{q['id']}/ref" not in out.done
        ]
        out.append(grade_records(recs, s.grader, grade_workers) if recs else [])

    if "rg1" in s.strategies or "rg2" in s.strategies:
        assert actor is not None
        params = replace(base, n=s.samples)

        def make_rg1(q: Question, comps: list[Completion]) -> list[dict]:
            return [
                _path_record(q, f"{q['id']}/rg1/{j}", "rg1", SOLUTION_PREFIX + c.text, model=actor.name, index=j)
                for j, c in enumerate(comps)
            ]

        counts["rg1"] = generate_into(
            out,
            questions,
            actor,
            params,
            build_prompt=lambda q: solve_prompt(q["question"], q["dataset_type"]),
            make_records=make_rg1,
            expected_ids=lambda q: [f"{q['id']}/rg1/{j}" for j in range(s.samples)],
            postprocess=lambda recs: grade_records(recs, s.grader, grade_workers),
            chunk_size=chunk_size,
            desc="RG1 samples",
        )

    if "rg2" in s.strategies:
        assert actor is not None
        jobs = []
        for r in [r for r in out.records if r["strategy"] == "rg1"]:
            lines = solution_steps(r["response"])
            if len(lines) < 2 or r["qid"] not in qmap:
                continue
            t = _rng(s.seed, r["id"]).randrange(1, len(lines))
            jobs.append({"id": r["id"].replace("/rg1/", "/rg2/"), "source": r, "lines": lines[:t], "t": t})

        def make_rg2(job: dict, c: Completion) -> dict:
            q = qmap[job["source"]["qid"]]
            prefix = continue_prompt(q, job["lines"]).prefix
            return _path_record(
                q, job["id"], "rg2", prefix + c.text, step=job["t"], source_id=job["source"]["id"], model=actor.name
            )

        counts["rg2"] = _generate(
            out,
            jobs,
            actor,
            replace(base, temperature=s.rg2_temperature),
            lambda job: continue_prompt(qmap[job["source"]["qid"]], job["lines"]),
            make_rg2,
            s.grader,
            grade_workers,
            chunk_size,
            "RG2 continuations",
        )

    if "rg3" in s.strategies and s.rg3_continue == "reference" and s.inserter == "programmatic":
        counts["rg3"] = _rg3_carried(out, questions, s, grade_workers)
    elif "rg3" in s.strategies:
        assert actor is not None
        counts["rg3"] = _rg3(out, questions, actor, inserter or actor, s, base, chunk_size, grade_workers)

    records = mark_selected(out.records, s)
    atomic_write_jsonl(out_path, records)
    summary: dict = {"paths": len(records), "selected": sum(r["selected"] for r in records)}
    for st in STRATEGIES:
        mine = [r for r in records if r["strategy"] == st]
        if mine:
            summary[f"{st}_paths"] = len(mine)
            summary[f"{st}_selected"] = sum(r["selected"] for r in mine)
            summary[f"{st}_correct"] = sum(bool(r.get("correct")) for r in mine)
    summary["truncated"] = sum(c.get("truncated", 0) for c in counts.values())
    return records, summary


def _rg3_jobs(questions: Sequence[Question], out: ResumableJsonl, s: PathSettings) -> list[dict]:
    """One job per RG3 path still to write: its id, question, reference lines and seeded rng."""
    jobs = []
    for q in questions:
        if not q.get("reference"):
            continue
        lines = solution_steps(reference_solution(q, strip_calculator=True))
        for j in range(s.rg3_per_question):
            pid = f"{q['id']}/rg3/{j}"
            if pid not in out.done:
                jobs.append({"id": pid, "q": q, "lines": lines, "rng": _rng(s.seed, pid)})
    return jobs


def _programmatic_insertion(job: dict, s: PathSettings) -> Insertion | None:
    """A programmatic mistake in the job's reference lines, of the settings' types where the
    question has true step values (calculation errors only where it has none)."""
    truth = true_steps(job["q"])
    types = [t for t in s.mistake_types if t in PROGRAMMATIC_TYPES] if truth else list(ARITHMETIC_ONLY)
    avoid = [t.value for t in truth or []]
    return insert_mistake(job["lines"], job["rng"], job["q"]["question"], types or ARITHMETIC_ONLY, avoid=avoid)


def _carried_insertion(job: dict, s: PathSettings) -> tuple[Insertion, list[str]] | None:
    """A programmatic insertion and the path carried forward from it (redrawn while a carry fails)."""
    for _ in range(_CARRY_TRIES):
        ins = _programmatic_insertion(job, s)
        if ins is None:
            return None
        carried = carry_forward(job["lines"], ins)
        if carried is not None:
            return ins, carried
    return None


def _insert_failed(job: dict, s: PathSettings) -> dict:
    return _path_record(
        job["q"], job["id"], "rg3", "", insert_failed=True, inserter=s.inserter, pred=None, correct=False
    )


def _rg3_carried(
    out: ResumableJsonl, questions: Sequence[Question], s: PathSettings, grade_workers: int | None
) -> dict:
    """RG3 without a model: a programmatic mistake in the reference solution, carried forward."""
    jobs = _rg3_jobs(questions, out, s)
    failed, made = [], []
    for job in jobs:
        done = _carried_insertion(job, s)
        if done is None:
            failed.append(_insert_failed(job, s))
            continue
        ins, carried = done
        made.append(
            _path_record(
                job["q"],
                job["id"],
                "rg3",
                SOLUTION_PREFIX + "\n".join(carried),
                step=ins.step,
                mistake_type=ins.mistake_type,
                inserter=s.inserter,
                original_line=ins.original,
                continued_by="reference",
                model=None,
            )
        )
    out.append(failed + grade_records(made, s.grader, grade_workers))
    return {"jobs": len(jobs), "insert_failed": len(failed)}


def _rg3(
    out: ResumableJsonl,
    questions: Sequence[Question],
    actor: Engine,
    inserter: Engine,
    s: PathSettings,
    base: SamplingParams,
    chunk_size: int,
    grade_workers: int | None,
) -> dict:
    """RG3: insert one mistake per job (programmatically or by a model), then let the actor continue."""
    jobs = _rg3_jobs(questions, out, s)
    counts = {"jobs": len(jobs), "insert_failed": 0}
    for chunk in chunks(jobs, chunk_size):
        ready = []
        if s.inserter == "programmatic":
            for job in chunk:
                ins = _programmatic_insertion(job, s)
                if ins is not None:
                    ready.append({**job, "t": ins.step, "type": ins.mistake_type, "line": ins.line})
                else:
                    ready.append({**job, "t": None, "type": None, "line": None})
        else:
            for job in chunk:
                cands = candidate_steps(job["lines"]) or list(range(max(1, len(job["lines"]) - 1)))
                job.update(t=job["rng"].choice(cands), type=job["rng"].choice(list(s.mistake_types)))
            outs = inserter.generate(
                [insert_prompt(j["q"]["question"], j["lines"], j["t"], j["type"]) for j in chunk],
                SamplingParams(n=1, temperature=0.0, max_tokens=128, seed=s.seed),
            )
            for job, comps in zip(chunk, outs):
                line = _first_line(comps[0].text)
                ok = bool(line) and line != job["lines"][job["t"]]
                ready.append({**job, "line": line if ok else None})
        failed = [j for j in ready if j["line"] is None]
        counts["insert_failed"] += len(failed)
        out.append([_insert_failed(j, s) for j in failed])
        todo = [j for j in ready if j["line"] is not None]

        def make(job: dict, c: Completion) -> dict:
            prefix = continue_prompt(job["q"], job["lines"][: job["t"]] + [job["line"]]).prefix
            return _path_record(
                job["q"],
                job["id"],
                "rg3",
                prefix + c.text,
                step=job["t"],
                mistake_type=job["type"],
                inserter=s.inserter if s.inserter == "programmatic" else inserter.name,
                original_line=job["lines"][job["t"]],
                continued_by="actor",
                model=actor.name,
            )

        _generate(
            out,
            todo,
            actor,
            base,
            lambda job: continue_prompt(job["q"], job["lines"][: job["t"]] + [job["line"]]),
            make,
            s.grader,
            grade_workers,
            chunk_size,
            "RG3 continuations",
        )
    return counts


def _first_line(text: str) -> str:
    for line in (text or "").splitlines():
        line = line.strip().strip('"').strip()
        if line.lower().startswith("rewritten step"):
            line = line.split(":", 1)[-1].strip()
        if line:
            return line
    return ""


def mark_selected(records: list[dict], s: PathSettings) -> list[dict]:
    """Set ``selected``: the paths annotation receives (see the module docstring)."""
    kept_correct: dict[tuple[str, str], int] = defaultdict(int)
    for r in sorted(records, key=lambda r: natural_key(r["id"])):
        ok = r["strategy"] in s.strategies and not r.get("empty") and not r.get("insert_failed")
        ok = ok and len(solution_steps(r["response"])) <= s.max_steps
        if ok and r["strategy"] in ("rg1", "rg2") and r.get("correct"):
            key = (r["qid"], r["strategy"])
            ok = kept_correct[key] < s.keep_correct
            kept_correct[key] += ok
        r["selected"] = bool(ok)
    return records
