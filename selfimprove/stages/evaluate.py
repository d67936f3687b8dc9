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

import argparse
import json
import logging
from pathlib import Path

from selfimprove.core import config as C
from selfimprove.core.cli import add_generation_args, add_run_args, config_from, engine_kwargs, parser, positive
from selfimprove.core.errors import UsageError
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.core.record_io import read_questions
from selfimprove.critic.test_time import EXTENDABLE, TestTimeConfig, evaluate_test_time
from selfimprove.generation.engines import add_engine_args, shared_engine
from selfimprove.generation.sequential import SEQUENTIAL_MODES

log = logging.getLogger(__name__)


def build_parser():
    """The command's options."""
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
    return ap


def main(argv=None) -> int:
    ap = build_parser()
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
    cfg = config_from(
        TestTimeConfig,
        args,
        out_dir=Path(args.out_dir),
        use_critic=bool(args.use_critic),
        only_final_sequential=bool(args.only_final_sequential),
    )
    return run(cfg, args)


def run(cfg: TestTimeConfig, args: argparse.Namespace) -> int:
    """Skip a finished evaluation, or evaluate under the run's step with the engines of ``args``."""
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    questions = read_questions(cfg.questions)
    config = cfg.record(len(questions))
    step = Step(
        args.run_dir,
        args.step or RunLayout.eval_step(cfg.out_dir.name),
        {k: v for k, v in config.items() if k not in EXTENDABLE},
    )
    results_path = cfg.files()["results"]
    if step.done and results_path.exists() and json.loads(results_path.read_text()).get("config") == config:
        log.info("[%s] already done, skipping; results: %s", step.name, results_path)
        return 0
    with step:
        evaluate_test_time(
            cfg,
            questions,
            shared_engine(**engine_kwargs(args, "actor")),
            lambda: shared_engine(**engine_kwargs(args, "critic")),
            count=step.count,
        )
    log.info("results: %s", results_path)
    return 0
