"""Build self-talk data from the actor's solutions and step-level critiques.

For each initial solution (graded samples, e.g. ``iter_1/01_samples.jsonl``) a step judge critiques
every step; the actor rewrites the first wrong step until the judge accepts it (``--max-rounds``)
and continues from it step by step, each new step judged and, when wrong, rewritten; the chain is
smoothed into one self-talk monologue and kept only when its final answer is correct. Writes the
chains with their provenance (``--out``, JSONL, resumable) and the fine-tuning file of the kept
chains (``--sft-out``: question -> monologue). When no chain is kept the file is an empty list and a
warning says why (``train --if-empty skip`` then records the model as not trained).

Judges (``--judge``): ``programmatic`` — the programmatic critic (GSM8K / synthetic
format, no model); ``model`` — a critique model (``--critic-model``) in the paper's format.
Smoothers (``--smoother``): ``template`` (deterministic, offline) or ``llm`` (``--smoother-model``;
outputs that lose the gold answer fall back to the template).
"""

from __future__ import annotations

import logging
from pathlib import Path

from selfimprove.core.cli import add_run_args, engine_kwargs, parser, positive
from selfimprove.core.knob import SELFTALK
from selfimprove.core.layout import RunLayout
from selfimprove.core.manifest import Step
from selfimprove.core.record_io import read_questions, read_samples
from selfimprove.critic.programmatic import NAME as PROGRAMMATIC
from selfimprove.generation.engines import SamplingParams, add_engine_args, shared_engine
from selfimprove.selftalk.build import build_selftalk, selftalk_examples
from selfimprove.selftalk.chains import ChainConfig
from selfimprove.selftalk.judges import ModelJudge, StepJudge, programmatic_judge
from selfimprove.selftalk.sft import add_sft_args, sft_eos, write_sft
from selfimprove.selftalk.smoothing import SMOOTHERS

log = logging.getLogger(__name__)

JUDGES = (PROGRAMMATIC, "model")


def build_parser():
    """The command's options."""
    ap = parser("selftalk_build", __doc__.split("\n\n")[0], scope=SELFTALK)
    ap.add_argument("--questions", required=True, help="question records (JSONL)")
    ap.add_argument("--samples", required=True, help="initial solutions: graded samples (JSONL)")
    ap.add_argument(
        "--which", choices=("all", "incorrect", "correct"), default="all", help="which samples start chains"
    )
    ap.add_argument("--out", required=True, help="chain records with provenance (JSONL, resumed)")
    ap.add_argument("--sft-out", required=True, help="fine-tuning file of the kept chains (JSON)")
    ap.add_knob(None, "--judge", "judge", choices=JUDGES, help="who judges each step")
    ap.add_knob(None, "--max-rounds", "max_rounds")
    ap.add_knob(None, "--max-steps", "max_steps", help="steps before a chain without final answer is given up")
    ap.add_knob(None, "--step-max-tokens", "step_max_tokens")
    ap.add_knob(None, "--temperature", "temperature", help="temperature of rewrites and new steps")
    ap.add_knob(
        None,
        "--force-answer",
        "force_answer",
        help="prefill the answer phrase at the last allowed step (1), or let such chains run out (0)",
    )
    ap.add_knob(None, "--critic-max-tokens", "critic_max_tokens", help="new tokens per model critique")
    ap.add_knob(None, "--smoother", "smoother", choices=SMOOTHERS)
    ap.add_argument("--smoother-max-tokens", type=int, default=1024)
    ap.add_knob(None, "--max-model-len", "max_model_len")
    ap.add_knob(None, "--gpu-memory-utilization", "gpu_memory_utilization")
    ap.add_knob(None, "--grader", "grader")
    ap.add_argument("--chunk-size", type=int, default=256, help="chains built between two checkpoint appends")
    add_sft_args(ap)
    add_engine_args(ap, "actor")
    add_engine_args(ap, "critic", required=False)
    add_engine_args(ap, "smoother", required=False)
    add_run_args(ap)
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    positive(ap, args, "max_steps", "step_max_tokens", "chunk_size")
    if args.max_rounds < 0:
        ap.error("--max-rounds must be >= 0")
    if args.judge == "model" and not args.critic_model:
        ap.error("--judge model needs --critic-model")
    if args.smoother == "llm" and not args.smoother_model:
        ap.error("--smoother llm needs --smoother-model")
    cfg = ChainConfig(
        args.max_rounds, args.max_steps, args.step_max_tokens, args.temperature, args.seed, bool(args.force_answer)
    )
    eos = sft_eos(args)
    settings = {
        "questions": args.questions,
        "samples": args.samples,
        "which": args.which,
        "actor": args.actor_model,
        "judge": args.judge if args.judge != "model" else f"model:{args.critic_model}",
        "smoother": args.smoother if args.smoother != "llm" else f"llm:{args.smoother_model}",
        "chain": cfg.__dict__,
        "grader": args.grader,
        "format": args.format,
        **({"eos_token": eos} if args.format == "alpaca" else {}),
    }
    step = Step(args.run_dir, args.step or RunLayout.pipeline_step("selftalk", "chains"), settings)
    if step.done and Path(args.sft_out).is_file():
        print(f"[{step.name}] already done, skipping")
        return 0
    questions = {q["id"]: q for q in read_questions(args.questions)}
    samples = read_samples(args.samples, ("id", "qid", "response", "correct"))
    if args.which != "all":
        samples = [s for s in samples if s["correct"] == (args.which == "correct")]
    with step:
        actor = shared_engine(**engine_kwargs(args, "actor"))
        judge: StepJudge
        if args.judge == "model":
            critic = shared_engine(**engine_kwargs(args, "critic"))
            judge = ModelJudge(critic, SamplingParams(n=1, temperature=0.0, max_tokens=args.critic_max_tokens))
        else:
            judge = programmatic_judge(args.grader)
        smoother = shared_engine(**engine_kwargs(args, "smoother")) if args.smoother == "llm" else None
        records, counts = build_selftalk(
            actor,
            judge,
            questions,
            samples,
            args.out,
            cfg,
            grader=args.grader,
            chunk_size=args.chunk_size,
            smoother=args.smoother,
            smoother_engine=smoother,
            smooth_params=SamplingParams(n=1, temperature=0.0, max_tokens=args.smoother_max_tokens),
        )
        step.count(**counts)
        examples = selftalk_examples(records)
        if not examples:
            log.warning(
                "%s: no chain passed final verification (%s), the fine-tuning file is empty; use more questions "
                "or samples (train_limit, sample_num), more rewrite rounds (--max-rounds) or an easier dataset",
                args.out,
                counts,
            )
        write_sft(args.sft_out, examples, args.format, eos)
        step.count(examples=len(examples))
    print(f"{counts['kept']} of {counts['chains']} chains kept -> {args.sft_out}")
    return 0
