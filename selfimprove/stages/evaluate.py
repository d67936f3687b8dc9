"""Test-time supervision: evaluate one actor with and without a critique model.

Generation side of the evaluation (the numbers come from :mod:`selfimprove.metrics`). With the
actor and the critic loaded once, it writes into ``--out-dir``:

==========================  ================================================================
``greedy.jsonl``            one greedy answer per question
``pool.jsonl``              N samples per question at ``--temperature`` (Pass@K, MV@K)
``pool_critiques.jsonl``    the critic on every pool sample (verifier, discrimination, ...)
``pool_refinements.jsonl``  every pool sample refined once, guided by its critique
``chain_<mode>.jsonl``      sequential critique-refine: round 0 = the greedy answer, round r =
                            the refinement of round r-1; ``chain_<mode>_critiques.jsonl`` and
                            ``chain_<mode>_round<r>.jsonl`` beside it
``chains_<mode>.jsonl``     the same for K > 1 chains (``--sequential-chains``), one from each of
                            the first K pool samples
``results.json``            every number with its configuration; where the grader (``GRADER``)
                            or the vote (``VOTING``) is not the project's own, also the headline
                            numbers scored the project's way beside them (``scoring``)
==========================  ================================================================

With ``--run-dir RUN --label L`` the questions are the run's ``data/test.jsonl`` and the folder is
``eval/L``. Options that are knobs (``--pool-size``: sample_num, ``--rounds``: MV_NUM, ...) default
to the evaluation's knob values.

Sequential modes (``--sequential-mode``): ``oracle`` refines only chains whose first answer is
known to be wrong (the released code's TEST_KNOW_ANSWER=1), ``all`` refines every chain every
round, ``verifier`` refines a chain only while the critic judges its current answer wrong.
Every record is keyed by question, sample index and round, so a rerun with a larger N, more
rounds or another method only generates what is missing.

A prompt longer than an engine's context window (at any stage: greedy, pool, critique,
refinement, sequential round) is not sent; its item is an empty, unanswered record graded wrong,
and ``results.json`` counts them (``unanswered``: how many, which questions, which ids per stage).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from selfimprove.core import config as C
from selfimprove.core.cli import add_generation_args, add_run_args, parser, positive
from selfimprove.core.errors import UsageError
from selfimprove.core.io import atomic_write_json, read_jsonl
from selfimprove.core.layout import EVAL_FILES, RunLayout
from selfimprove.core.manifest import Step
from selfimprove.evaluation.joins import by_sample
from selfimprove.generation.engines import SamplingParams, add_engine_args, engine_kwargs, shared_engine
from selfimprove.generation.sequential import SEQUENTIAL_MODES, run_sequential
from selfimprove.generation.tasks import QUESTION_FIELDS, critique_samples, refine_critiques, sample_questions

log = logging.getLogger(__name__)


def main(argv=None) -> int:
    ap = parser("evaluate", __doc__.split("\n\n")[0], scope=C.EVALUATE)
    ap.add_argument("--questions", default=None, help="test question records (JSONL; default: the run's)")
    ap.add_argument("--out-dir", default=None, help="evaluation folder of this actor (default: the run's eval/LABEL)")
    ap.add_knob(None, "--pool-size", "sample_num", help="N samples per question for Pass@K / MV@K")
    ap.add_knob(None, "--use-critic", "test_use_critic", metavar="0|1")
    ap.add_knob(None, "--rounds", "mv_num")
    ap.add_knob(None, "--sequential-mode", "sequential_mode", choices=SEQUENTIAL_MODES)
    ap.add_knob(
        None,
        "--sequential-chains",
        "sequential_chains",
        help="K chains per question: 1 = from the greedy answer; K > 1 = from each of the first K pool samples "
        "(the released flow with sample_num = K)",
    )
    ap.add_knob(
        None,
        "--only-final-sequential",
        "only_final_sequential",
        metavar="0|1",
        help="report only the final round's answer as the sequential headline (with K chains, the majority of "
        "their final answers); no vote over rounds",
    )
    ap.add_knob(
        None,
        "--voting",
        "voting",
        choices=C.VOTINGS,
        help="majority vote over equivalent answers or identical answer strings (the released rule)",
    )
    ap.add_argument("--critic-temperature", type=float, default=0.0)
    ap.add_knob(None, "--critic-max-tokens", "critic_max_tokens")
    ap.add_argument("--label", default=None, help="name of this actor in reports (and its folder eval/LABEL)")
    add_engine_args(ap, "actor")
    add_engine_args(ap, "critic", required=False)
    add_generation_args(ap)
    add_run_args(ap)
    args = ap.parse_args(argv)
    if args.questions is None or args.out_dir is None:
        if args.run_dir is None or args.label is None:
            raise UsageError("give --questions and --out-dir, or --run-dir and --label to use the run's layout")
        lay = RunLayout(args.run_dir)
        args.questions = args.questions or str(lay.questions("test"))
        args.out_dir = args.out_dir or str(lay.eval_dir(args.label))
    positive(ap, args, "pool_size", "max_tokens", "chunk_size")
    if not 1 <= args.sequential_chains <= args.pool_size:
        ap.error(f"--sequential-chains must be between 1 and --pool-size ({args.pool_size})")
    if args.use_critic and not args.critic_model:
        ap.error("--critic-model is required with --use-critic 1")
    out_dir = Path(args.out_dir)
    files = {role: out_dir / name for role, name in EVAL_FILES.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    questions = read_jsonl(args.questions, required=QUESTION_FIELDS)
    greedy_p = SamplingParams(n=1, temperature=0.0, max_tokens=args.max_tokens, seed=args.seed)
    pool_p = SamplingParams(
        n=args.pool_size, temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens, seed=args.seed
    )
    refine_p = SamplingParams(n=1, temperature=0.0, max_tokens=args.max_tokens, seed=args.seed)
    critic_p = SamplingParams(
        n=1, temperature=args.critic_temperature, max_tokens=args.critic_max_tokens, seed=args.seed
    )
    config = {
        "actor": args.label or args.actor_model,
        "actor_model": args.actor_model,
        "critic": args.critic_model if args.use_critic else None,
        "questions": args.questions,
        "n_questions": len(questions),
        "pool_size": args.pool_size,
        "temperature": args.temperature,
        "rounds": args.rounds if args.use_critic else 0,
        "sequential_mode": args.sequential_mode,
        "sequential_chains": args.sequential_chains,
        "sequential_headline": "final" if args.only_final_sequential else "mv",
        "grader": args.grader,
        "voting": args.voting,
        "max_tokens": args.max_tokens,
        "seed": args.seed,
    }
    # What defines the generations is pinned; the budget (N, rounds, modes) may grow between
    # runs, and then only the missing generations are made. The vote only counts answers.
    extendable = (
        "voting",
        "pool_size",
        "rounds",
        "sequential_mode",
        "sequential_chains",
        "sequential_headline",
        "n_questions",
        "actor",
    )
    step = Step(
        args.run_dir,
        args.step or RunLayout.eval_step(out_dir.name),
        {k: v for k, v in config.items() if k not in extendable},
    )
    results_path = files["results"]
    if step.done and results_path.exists() and json.loads(results_path.read_text()).get("config") == config:
        log.info("[%s] already done, skipping; results: %s", step.name, results_path)
        return 0
    from selfimprove.evaluation.metrics import compute_results
    from selfimprove.evaluation.scoring import compare_scorings

    with step:
        actor = shared_engine(**engine_kwargs(args, "actor"))
        greedy, c = sample_questions(
            actor,
            questions,
            files["greedy"],
            greedy_p,
            args.grader,
            args.chunk_size,
            args.grade_workers,
            desc="greedy",
        )
        pool, c2 = sample_questions(
            actor,
            questions,
            files["pool"],
            pool_p,
            args.grader,
            args.chunk_size,
            args.grade_workers,
            desc=f"pool of {args.pool_size}",
        )
        pool = [p for p in pool if p["index"] < args.pool_size]
        step.count(greedy_correct=c["correct"], pool_samples=len(pool))
        critiques = refinements = chain = None
        if args.use_critic:
            critic = shared_engine(**engine_kwargs(args, "critic"))
            qtext = {q["id"]: q["question"] for q in questions}
            crits, cc = critique_samples(
                critic, pool, files["pool_critiques"], critic_p, args.chunk_size, desc="critiquing pool"
            )
            samples = {s["id"]: {**s, "question": qtext[s["qid"]]} for s in pool}
            crits = [x for x in crits if x["sample_id"] in samples]
            refs, rc = refine_critiques(
                actor,
                crits,
                samples,
                files["pool_refinements"],
                refine_p,
                reserved_new_data=10**9,
                grader=args.grader,
                chunk_size=args.chunk_size,
                grade_workers=args.grade_workers,
                desc="refining pool",
            )
            refs = [x for x in refs if x["sample_id"] in samples]
            critiques, refinements = by_sample(crits, refs)
            step.count(format_violations=cc["format_violations"], refined_correct=rc["correct"])
            if args.rounds:
                chain, sc = run_sequential(
                    actor,
                    critic,
                    questions,
                    greedy if args.sequential_chains == 1 else pool,
                    out_dir,
                    args.rounds,
                    args.sequential_mode,
                    refine_p,
                    critic_p,
                    args.grader,
                    args.chunk_size,
                    chains=args.sequential_chains,
                )
                step.count(**sc)
        results = compute_results(questions, greedy, pool, critiques, refinements, chain, config)
        # a grader or vote other than the project's: the project's numbers beside the primary ones
        scoring = compare_scorings(
            questions, greedy, pool, critiques, refinements, chain, config, results, args.grade_workers
        )
        if scoring is not None:
            results["scoring"] = scoring
        atomic_write_json(results_path, results)
        unanswered = results["unanswered"]
        step.count(unanswered=unanswered["count"], unanswered_questions=unanswered["questions"])
        if unanswered["count"]:
            log.warning(
                "%d item(s) unanswered (prompt longer than the context window, graded wrong), of question(s) %s",
                unanswered["count"],
                ", ".join(unanswered["questions"]),
            )
    log.info("results: %s", results_path)
    return 0
