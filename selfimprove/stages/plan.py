"""``PLAN=1``: what a driver or a sweep would do, printed before any GPU starts.

::

    PLAN=1 PRESET=selfimprove/presets/llama3-8b.env bash selfimprove/inference-all.sh
    PLAN=1 SCALE=paper bash scripts/sweep.sh selfimprove/presets/fig6.env
    python -m selfimprove plan inference [--json]        # what the drivers call (selfimprove/driver-begin.sh)
    python -m selfimprove plan --sweep PRESET [--json]   # what scripts/sweep.sh calls

Every knob is resolved and checked as for a run (:mod:`selfimprove.core.config`), then each step
is listed with its model: the prompts and generations of every generating step and its token
budget (generations x max_tokens), the examples (an upper bound) and optimizer steps of every
fine-tuning with the effective batch and the LLaMA-Factory / DeepSpeed settings, the vLLM
settings, and GPU-hours from two throughput figures (``PLAN_TOKENS_PER_S``,
``PLAN_TRAIN_TOKENS_PER_S``, per GPU). The numbers are ceilings: every generation runs to
``max_tokens``, every wrong-or-right branch takes the larger count, every training example fills
``cutoff_len``. Prompt tokens are not counted.

The plan goes to ``runs/<EXP_NUM>/plan.json`` (a sweep's: ``RUNS_DIR/<sweep>/plan.json``), written
atomically. Nothing else is written, the run lock is neither taken nor released, no model is
loaded and neither torch nor vLLM is imported: models need not be present (a model that is
neither a local folder nor cached, with ``HF_HUB_OFFLINE`` set, is a warning). What would stop
the run (a missing dataset file, a GLOBAL_BATCH that does not divide, ...) is listed as a warning.

The module is longer than the package's usual ~400 lines: it models the four drivers step by
step, and that model, its totals and its tables change together when a driver changes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfimprove.core import config as C
from selfimprove.core import sweep
from selfimprove.core.cli import parser
from selfimprove.core.errors import RecordError, UsageError
from selfimprove.core.io import atomic_write_json, read_json
from selfimprove.core.layout import RunLayout
from selfimprove.critic.programmatic import NAME as PROGRAMMATIC
from selfimprove.data import paths as data_paths
from selfimprove.data.datasets import SYNTHETIC_DEFAULT_SIZE, check_spec
from selfimprove.data.records import DatasetError
from selfimprove.data.registry import ENTRIES
from selfimprove.data.spec import dataset_types, parse_spec
from selfimprove.training import distributed
from selfimprove.training.export import used_iterations, uses_feedback
from selfimprove.training.launcher import (
    BASE_TEMPLATE,
    DEEPSPEED,
    global_batch_args,
    parse_overrides,
    train_overrides,
    training_args,
)

PLAN_VERSION = 1
ASSUMED_GPUS = 8  # GPUs per node when none is visible and PLAN_GPUS is 0 (the paper's node)
# questions per split of the hub datasets (their published splits), when no local copy is counted
PUBLISHED_SIZES = {
    "gsm8k": {"train": 7473, "test": 1319},
    "math": {"train": 7500, "test": 5000},
    "math500": {"test": 500},
}
RELEASED_FEEDBACK_ROWS = 100  # rows of each released feedback file (gsm8k-/math-critique-refine-100.json)
INSERT_MAX_TOKENS = 128  # RG3 with INSERTER=model: one rewritten line (selfimprove/critic/paths.py)
SMOOTH_MAX_TOKENS = 1024  # SMOOTHER=llm: one rewritten chain (selftalk_build --smoother-max-tokens)
_SHOWN_ARGS = (
    "stage",
    "finetuning_type",
    "template",
    "learning_rate",
    "num_train_epochs",
    "lr_scheduler_type",
    "warmup_steps",
    "cutoff_len",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_steps",
    "bf16",
    "optim",
)


# ---------------------------------------------------------------------- what every step builder shares
@dataclass
class Context:
    """One driver's resolved knobs, the hardware the plan assumes, and what it noticed."""

    cfg: C.Config
    scope: str
    env: Mapping[str, str]
    gpus: int
    gpus_source: str
    topo: distributed.Topology
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    datasets: dict[str, list[dict]] = field(default_factory=dict)
    steps: list[dict] = field(default_factory=list)

    def questions(self, specs: str, split: str, limit: int | None) -> tuple[int, list[dict]]:
        """Questions of ``specs`` after ``limit`` (per dataset), and where each count comes from."""
        rows: list[dict[str, Any]] = []
        folder = C.data_folder(self.cfg.data_dir)
        for text in specs.split():
            try:
                check_spec(text, split, folder)
                size, source = _size(text, split, folder)
            except DatasetError as e:
                self.warnings.append(f"the run would stop: {e}")
                continue
            n = size if limit is None else min(limit, size)
            rows.append({"spec": text, "split": split, "available": size, "questions": n, "source": source})
        return sum(r["questions"] for r in rows), rows

    def model(self, name: str, knob: str) -> str:
        """``name``, checked like the run checks it; a model this run (or an earlier driver of the
        same sweep cell) trains into its own folder is not there yet, and is not checked."""
        inside = Path(os.path.abspath(name)).is_relative_to(self.cfg.layout.root)
        problem = None if inside else C.check_model(name, knob, self.env)
        if problem:
            self.warnings.append(problem)
        return name

    def gen(
        self, step: str, role: str, model: str, prompts: int, n: int, max_tokens: int, temp: float, api: bool = False
    ) -> None:
        """A generating step: ``prompts`` (an upper bound) x ``n`` completions of at most ``max_tokens``."""
        tokens = prompts * n * max_tokens
        self.steps.append(
            {
                "kind": "generate",
                "driver": self.scope,
                "step": step,
                "role": role,
                "model": model,
                "where": "api" if api else "gpu",
                "prompts": prompts,
                "n": n,
                "generations": prompts * n,
                "max_tokens": max_tokens,
                "token_budget": tokens,
                "temperature": temp,
                "gpu_hours": 0.0 if api else tokens / self.cfg.plan_tokens_per_s / 3600,
            }
        )

    def train(self, step: str, base_model: str, parts: dict[str, int], fmt: str, overrides: dict | None = None) -> None:
        """A fine-tuning: its examples (upper bound), effective batch, optimizer steps, settings
        (``overrides``: the LLaMA-Factory overrides, by default the driver's)."""
        cfg = self.cfg
        overrides = train_overrides(cfg, self.scope) if overrides is None else overrides
        template = cfg.template
        if fmt == "alpaca" and template in ("default", BASE_TEMPLATE):
            template = BASE_TEMPLATE  # what the train stage gives LLaMA-Factory (training.runner)
        elif fmt == "alpaca":
            self.warnings.append(f"the run would stop at {step}: alpaca SFT needs template=default, not {template!r}")
        args = training_args(
            cfg.profile, base_model, template, Path("."), "plan", Path("."), overrides, zero_stage=cfg.zero_stage
        )
        world = distributed.world_size(self.topo, self.gpus, cfg.profile, args) or 1
        batch: dict[str, Any] = {"global_batch": cfg.global_batch or None, "world_size": world}
        if cfg.global_batch:
            try:
                args, record = global_batch_args(args, cfg.global_batch, world, overrides)
                batch.update(record)
            except UsageError as e:
                self.warnings.append(f"the run would stop at {step}: {e}")
        per_device, accumulation = int(args["per_device_train_batch_size"]), int(args["gradient_accumulation_steps"])
        effective = per_device * accumulation * world
        batch.update(per_device_train_batch_size=per_device, gradient_accumulation_steps=accumulation)
        batch["effective_batch"] = effective
        examples = sum(parts.values())
        epochs = float(args["num_train_epochs"])
        max_steps = int(args.get("max_steps", -1) or -1)
        if max_steps > 0:
            steps, sequences = max_steps, max_steps * effective
        else:
            per_epoch = math.ceil(math.ceil(examples / (per_device * world)) / accumulation) if examples else 0
            steps, sequences = math.ceil(epochs * per_epoch), math.ceil(epochs * examples)
        tokens = sequences * int(args["cutoff_len"])
        shown = {k: args[k] for k in _SHOWN_ARGS if k in args}
        deepspeed = args.get("deepspeed")
        shown["zero_stage"] = next((s for s, p in DEEPSPEED.items() if str(p) == deepspeed), deepspeed and "custom")
        shown["deepspeed"] = deepspeed
        hours = tokens / cfg.plan_train_tokens_per_s / 3600
        self.steps.append(
            {
                "kind": "train",
                "driver": self.scope,
                "step": step,
                "base_model": base_model,
                "profile": cfg.profile,
                "format": fmt,
                "examples": examples,
                "examples_by_source": parts,
                "batch": batch,
                "optimizer_steps": steps,
                "sequences": sequences,
                "token_ceiling": tokens,
                "llamafactory": shown,
                "overrides": overrides,
                "gpu_hours": hours,
                "wall_hours": hours / world if cfg.profile == "gpu" else hours,
            }
        )


def _size(text: str, split: str, folder: Path) -> tuple[int, str]:
    spec = parse_spec(text)
    if spec.kind == "synthetic":
        return spec.size or SYNTHETIC_DEFAULT_SIZE[split], "generated"
    if spec.kind == "file" and spec.path is not None:
        from selfimprove.data.sources import files

        return len(files.read_rows(spec.path, text)), f"counted in {spec.path}"
    entry = ENTRIES[spec.entry or ""]
    if spec.kind == "local" and entry.local is not None:
        path = data_paths.local_file(entry.local, split, folder)
        with open(path, encoding="utf-8") as f:
            return sum(1 for line in f if line.strip()), f"counted in {path}"
    return PUBLISHED_SIZES[entry.dataset][split], "published size"


def _short(path: str | Path, root: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(Path(path).relative_to(root))
    return str(path)


def _feedback_rows(ctx: Context) -> int:
    """Critique->refinement examples of FEEDBACK_FILE (auto: the released files in DATA_DIR)."""
    cfg = ctx.cfg
    if not cfg.use_gpt4_feedback:
        return 0
    if cfg.feedback_file.strip() != "auto":
        files = cfg.feedback_file.split()
    else:
        from selfimprove.data.feedback import FeedbackFilesMissing, feedback_files

        try:
            types = dataset_types(cfg.dataset_name.split())
            files = [str(p) for p in feedback_files(types, C.data_folder(cfg.data_dir))]
        except (DatasetError, FeedbackFilesMissing, KeyError) as e:
            if cfg.sources.get("use_gpt4_feedback") == "default":
                ctx.notes.append(f"{e}; iteration 0 would train without feedback examples")
                return 0
            ctx.warnings.append(f"the run would stop: USE_GPT4_FEEDBACK=1 but {e}")
            ctx.notes.append(f"feedback examples counted as {RELEASED_FEEDBACK_ROWS} per released file")
            return RELEASED_FEEDBACK_ROWS * max(1, len(set(_safe_types(cfg.dataset_name))))
    rows = 0
    for f in files:
        try:
            data = read_json(f)
        except RecordError as e:  # read_json's every failure: missing, unreadable, not JSON
            ctx.warnings.append(f"the run would stop: FEEDBACK_FILE {e}")
            continue
        rows += len(data) if isinstance(data, list) else 0
    return rows


def _safe_types(specs: str) -> list[str]:
    try:
        return dataset_types(specs.split())
    except (DatasetError, KeyError):
        return []


def _per_question(cfg: C.Config) -> int:
    """Most SFT examples one question's N samples can give an iteration: the correct samples, plus
    the kept refinements of the critiqued ones (twice with USE_SELFIMPROVE_FEEDBACK), maximised
    over how many of the N are correct."""
    n, refine, reserved = cfg.sample_num, cfg.refine_num, cfg.reserved_new_data
    best = 0
    for correct in range(n + 1):
        critiqued = n if cfg.critique_which == "all" else n - correct
        kept = 0
        if cfg.use_critic and cfg.reserved_scope == "sample":
            kept = critiqued * min(refine, reserved)
        elif cfg.use_critic:
            kept = min(reserved, critiqued * refine)
        best = max(best, correct + kept * (2 if cfg.use_selfimprove_feedback else 1))
    return best


# ---------------------------------------------------------------------- the drivers
def inference_steps(ctx: Context) -> None:
    cfg, lay = ctx.cfg, ctx.cfg.layout
    q, ctx.datasets["train"] = ctx.questions(cfg.dataset_name, "train", cfg.train_limit)
    flags = {f: getattr(cfg, f) for f in ("use_original", "use_previous", "use_critic", "use_gpt4_feedback")}
    flags["use_selfimprove_feedback"] = cfg.use_selfimprove_feedback
    feedback = _feedback_rows(ctx)
    model, critic, api = ctx.model(cfg.model_name, "model_name"), cfg.critic_model_name, bool(cfg.critic_base_url)
    if cfg.use_critic and critic != PROGRAMMATIC and not api:
        ctx.model(critic, "critic_model_name")
    n, refine, mt, temp = cfg.sample_num, cfg.refine_num, cfg.max_tokens, cfg.temperature
    per_q = _per_question(cfg)
    actor = model
    for k in range(cfg.iter_num + 1):
        if k >= 1:
            ctx.gen(lay.step("samples", k), "actor", actor, q, n, mt, temp)
            if cfg.use_critic:  # at most every sample is critiqued (CRITIQUE_WHICH=incorrect: all wrong)
                if critic == PROGRAMMATIC:
                    ctx.notes.append(f"{lay.step('critiques', k)}: the programmatic annotator, no model")
                else:
                    ctx.gen(lay.step("critiques", k), "critic", critic, q * n, 1, cfg.critic_max_tokens, 0.0, api)
                ctx.gen(lay.step("refinements", k), "actor", actor, q * n, refine, mt, temp)
        parts = {"original": q} if cfg.use_original or k == 0 else {}
        if uses_feedback(k, flags):
            parts["gpt4_feedback"] = feedback
        if k >= 1:
            parts["sampled"] = q * per_q * len(used_iterations(k, flags))
        ctx.train(lay.step("train", k), model, parts, cfg.sft_format)
        actor = _short(lay.actor(k), lay.root)


def evaluate_steps(ctx: Context) -> None:
    cfg = ctx.cfg
    t, ctx.datasets["test"] = ctx.questions(cfg.test_dataset_name, "test", cfg.test_limit)
    critic, api, mt, cmt = cfg.critic_model_name, bool(cfg.critic_base_url), cfg.max_tokens, cfg.critic_max_tokens
    if cfg.test_use_critic and not api and critic not in (PROGRAMMATIC, cfg.model_name):
        ctx.model(critic, "critic_model_name")
    critic = _short(critic, cfg.layout.root)
    n, rounds = cfg.sample_num, cfg.sequential_chains * t * cfg.mv_num
    for label, path in C.eval_actors(cfg):
        step, actor = RunLayout.eval_step(label), _short(path, cfg.layout.root)
        if cfg.actor_models:
            ctx.model(path, f"ACTOR_MODELS ({label})")
        ctx.gen(f"{step} greedy", "actor", actor, t, 1, mt, 0.0)
        ctx.gen(f"{step} pool", "actor", actor, t, n, mt, cfg.test_temperature)
        if cfg.test_use_critic:
            ctx.gen(f"{step} pool critiques", "critic", critic, t * n, 1, cmt, 0.0, api)
            ctx.gen(f"{step} pool refinements", "actor", actor, t * n, 1, mt, 0.0)
        if cfg.test_use_critic and rounds:
            ctx.gen(f"{step} sequential critiques", "critic", critic, rounds, 1, cmt, 0.0, api)
            ctx.gen(f"{step} sequential refinements", "actor", actor, rounds, 1, mt, 0.0)


def _path_steps(ctx: Context, step: str, q: int) -> int:
    """Flawed-path generation on ``q`` questions (critic_paths, and critic_eval's held-out
    responses); returns the paths at most."""
    cfg = ctx.cfg
    strategies, actor, mt, temp = set(cfg.strategies.split(",")), cfg.model_name, cfg.max_tokens, cfg.temperature
    samples, rg3 = q * cfg.path_samples, q * cfg.rg3_per_question
    if strategies & {"rg1", "rg2"}:
        ctx.gen(f"{step} rg1", "actor", actor, q, cfg.path_samples, mt, temp)
    if "rg2" in strategies:
        ctx.gen(f"{step} rg2", "actor", actor, samples, 1, mt, cfg.rg2_temperature)
    if "rg3" in strategies and cfg.inserter == "model":
        ctx.gen(f"{step} rg3 mistakes", "inserter", cfg.inserter_model, rg3, 1, INSERT_MAX_TOKENS, 0.0)
    if "rg3" in strategies and cfg.rg3_continue == "actor":
        ctx.gen(f"{step} rg3", "actor", actor, rg3, 1, mt, temp)
    counts = {"rg1": samples, "rg2": samples, "rg3": rg3, "reference": q}
    return sum(counts[s] for s in strategies if s in counts)


def critic_steps(ctx: Context) -> None:
    cfg = ctx.cfg
    files, names = cfg.layout.pipeline(C.CRITIC)
    q, ctx.datasets["train"] = ctx.questions(cfg.critic_dataset_name, "train", cfg.critic_train_limit)
    t, ctx.datasets["test"] = ctx.questions(cfg.critic_test_dataset_name, "test", cfg.critic_test_limit)
    actor, mt, cmt = ctx.model(cfg.model_name, "model_name"), cfg.max_tokens, cfg.critic_max_tokens
    if cfg.critic_base_model != cfg.model_name:
        ctx.model(cfg.critic_base_model, "critic_base_model")
    paths = _path_steps(ctx, names["paths"], q)
    if cfg.annotator == "model":
        api = bool(cfg.annotator_base_url)
        if not api:
            ctx.model(cfg.annotator_model, "ANNOTATOR_MODEL")
        ctx.gen(names["annotations"], "annotator", cfg.annotator_model, paths, 1, cmt, 0.0, api)
    if cfg.mc_k > 0:
        ctx.gen(names["mc_filter"], "actor", actor, paths, cfg.mc_n, mt, cfg.temperature)
    examples = min(paths, cfg.critic_examples) if cfg.critic_examples else paths
    ctx.train(names["model"], cfg.critic_base_model, {"critiques": examples}, cfg.critic_format)
    if cfg.likelihood_solutions:  # the likelihood critic: scored, not generated; its fine-tune is planned
        solutions = {"solutions": min(q, cfg.likelihood_solutions)}
        lk_args = parse_overrides(cfg.likelihood_train_args.split())
        ctx.train(names["likelihood"], cfg.critic_base_model, solutions, cfg.critic_format, lk_args)
    _path_steps(ctx, f"{names['eval']} responses", t)
    responses = 2 * cfg.eval_per_class
    models = {
        "base": (cfg.critic_base_model, False),
        "trained": (_short(files["model"], cfg.layout.root), False),
        "api": (cfg.critic_api_model, True),
    }
    for name in cfg.eval_critics:
        step = f"{names['eval']} {name}"
        if name in models:
            model, api = models[name]
            ctx.gen(f"{step} critiques", "critic", model, responses, 1, cmt, 0.0, api)
            if cfg.processbench and cfg.processbench_limit:
                ctx.gen(f"{step} processbench", "critic", model, cfg.processbench_limit, 1, cmt, 0.0, api)
            elif cfg.processbench:
                ctx.notes.append(f"{step}: ProcessBench with PROCESSBENCH_LIMIT=0 (every row) is not counted")
        ctx.gen(f"{step} refinements", "actor", actor, responses, 1, mt, 0.0)


def selftalk_steps(ctx: Context) -> None:
    cfg = ctx.cfg
    files, names = cfg.layout.pipeline(C.SELFTALK)
    root, mt, cmt, temp = cfg.layout.root, cfg.max_tokens, cfg.critic_max_tokens, cfg.temperature
    q, ctx.datasets["train"] = ctx.questions(cfg.dataset_name, "train", cfg.train_limit)
    t, ctx.datasets["test"] = ctx.questions(cfg.test_dataset_name, "test", cfg.test_limit)
    model, critic = ctx.model(cfg.model_name, "model_name"), cfg.critic_model_name
    judge, api = cfg.judge == "model", bool(cfg.critic_base_url)
    if judge and not api and critic != cfg.model_name:
        ctx.model(critic, "critic_model_name")
    if cfg.sft_model:
        sft = ctx.model(cfg.sft_model, "SFT_MODEL")
    else:
        ctx.train(cfg.layout.step("train", 0), model, {"original": q}, cfg.sft_format)
        sft = _short(files["sft_actor"], root)
    samples = q * cfg.sample_num
    ctx.gen(names["samples"], "actor", sft, q, cfg.sample_num, mt, temp)
    if judge:
        ctx.gen(names["critiques"], "critic", critic, samples, 1, cmt, 0.0, api)
    ctx.gen(names["refinements"], "actor", sft, samples, 1, mt, temp)
    # a chain: at most MAX_STEPS steps, each written once and rewritten up to MAX_ROUNDS times, each judged
    chain, written = names["chains"], samples * cfg.max_steps * (1 + cfg.max_rounds)
    ctx.gen(f"{chain} steps", "actor", sft, written, 1, cfg.step_max_tokens, temp)
    if judge:
        ctx.gen(f"{chain} judge", "critic", critic, written, 1, cmt, 0.0, api)
    if cfg.smoother == "llm":
        ctx.gen(f"{chain} smoothing", "smoother", cfg.smoother_model_name, samples, 1, SMOOTH_MAX_TOKENS, 0.0, api)
    ctx.train(names["selftalk_model"], model, {"selftalk_chains": samples}, cfg.sft_format)
    trajectories = {"selfcorrect_trajectories": samples, **({"original": q} if cfg.selfcorrect_sft_data else {})}
    ctx.train(names["selfcorrect_model"], model, trajectories, cfg.sft_format)
    answers = t * (1 + cfg.eval_sample_num)  # the greedy answer and the pool of each question
    rows = (
        ("selftalk", _short(files["selftalk_model"], root), cfg.selftalk_max_tokens, None),
        ("selfcorrect", _short(files["selfcorrect_model"], root), mt, "self"),
        ("sft_critic", sft, mt, critic if judge else None),
    )
    for method, actor, max_tokens, checker in rows:
        step = f"{names['eval']}/{method}"
        ctx.gen(f"{step} greedy", "actor", actor, t, 1, max_tokens, 0.0)
        ctx.gen(f"{step} pool", "actor", actor, t, cfg.eval_sample_num, max_tokens, temp)
        if checker == "self":
            ctx.gen(f"{step} self-checks", "self-critic", actor, answers, 1, cmt, 0.0)
        elif checker:
            ctx.gen(f"{step} critiques", "critic", checker, answers, 1, cmt, 0.0, api)
        if method != "selftalk":
            ctx.gen(f"{step} corrections", "actor", actor, answers, 1, max_tokens, 0.0)


BUILDERS = {
    C.INFERENCE: inference_steps,
    C.EVALUATE: evaluate_steps,
    C.CRITIC: critic_steps,
    C.SELFTALK: selftalk_steps,
}


# ---------------------------------------------------------------------- one driver's plan
def context(cfg: C.Config, scope: str, env: Mapping[str, str], visible: int | None) -> Context:
    """The hardware the plan assumes: PLAN_GPUS, else the GPUs visible here, else 8 per node;
    nodes and processes per node from LLaMA-Factory's variables, as the train stage reads them."""
    if cfg.plan_gpus:
        gpus, source = cfg.plan_gpus, "PLAN_GPUS"
    elif visible:
        gpus, source = visible, "visible here"
    else:
        gpus, source = ASSUMED_GPUS, "assumed: none is visible here; PLAN_GPUS sets the number"
    warnings = []
    try:
        topo = distributed.read_topology(env, gpus, resolve=lambda host: None)
    except distributed.DistributedError as e:
        warnings.append(f"the run would stop at its first training: {e}")
        nodes = env.get("NNODES", "").strip()
        topo = distributed.Topology(nnodes=int(nodes) if nodes.isdigit() and int(nodes) > 0 else 1)
    ctx = Context(cfg, scope, env, gpus, source, topo, warnings)
    if cfg.profile == "gpu" and cfg.tp_size > gpus:
        ctx.warnings.append(f"TP_SIZE={cfg.tp_size} is more than the {gpus} GPU(s) per node")
    return ctx


def engine_settings(ctx: Context) -> dict:
    cfg = ctx.cfg
    if cfg.engine == "ray":
        engines = cfg.ray_replicas or max(1, ctx.gpus * ctx.topo.nnodes // cfg.tp_size)
    else:
        engines = max(1, ctx.gpus // cfg.tp_size)
    return {
        "engine": cfg.engine,
        "tensor_parallel_size": cfg.tp_size,
        "engines": engines,
        "max_model_len": cfg.max_model_len,
        "gpu_memory_utilization": cfg.gpu_memory_utilization,
        "chunk_size": cfg.chunk_size,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_tokens": cfg.max_tokens,
        "critic_max_tokens": cfg.critic_max_tokens,
    }


def totals(steps: list[dict], generation_gpus: int) -> dict:
    local = [s for s in steps if s["kind"] == "generate" and s["where"] == "gpu"]
    api = [s for s in steps if s["kind"] == "generate" and s["where"] == "api"]
    trains = [s for s in steps if s["kind"] == "train"]
    gen_h = sum(s["gpu_hours"] for s in local)
    train_h = sum(s["gpu_hours"] for s in trains)
    return {
        "generate_steps": len(local) + len(api),
        "prompts": sum(s["prompts"] for s in local),
        "generations": sum(s["generations"] for s in local),
        "token_budget": sum(s["token_budget"] for s in local),
        "api_generations": sum(s["generations"] for s in api),
        "api_token_budget": sum(s["token_budget"] for s in api),
        "trainings": len(trains),
        "training_examples": sum(s["examples"] for s in trains),
        "optimizer_steps": sum(s["optimizer_steps"] for s in trains),
        "training_token_ceiling": sum(s["token_ceiling"] for s in trains),
        "gpu_hours": {"generation": gen_h, "training": train_h, "total": gen_h + train_h},
        "wall_hours": gen_h / max(1, generation_gpus) + sum(s["wall_hours"] for s in trains),
    }


def assumptions(cfg: C.Config, source: str) -> list[str]:
    def given(attr: str, what: str) -> str:
        return "set" if cfg.sources.get(attr) != "default" else f"default, {what}"

    return [
        f"generation: {cfg.plan_tokens_per_s:g} generated tokens/s per GPU (PLAN_TOKENS_PER_S; "
        f"{given('plan_tokens_per_s', 'assumed for an 8B model in bf16 under vLLM on one 80 GB GPU')})",
        f"training: {cfg.plan_train_tokens_per_s:g} trained tokens/s per GPU (PLAN_TRAIN_TOKENS_PER_S; "
        f"{given('plan_train_tokens_per_s', 'assumed for full fine-tuning of an 8B model, ZeRO-2, 80 GB GPUs')})",
        f"GPUs per node: {source}",
        "ceilings: every generation runs to max_tokens, every count takes its largest branch (e.g. every sample "
        "wrong where that means more work), every training example fills cutoff_len; prompt tokens, model "
        "loading and grading are not counted; API steps use no GPU (counted apart)",
    ]


def build(scope: str, env: Mapping[str, str] | None = None, visible: int | None = None) -> dict:
    """The plan of one driver (and, for inference-all.sh with EVALUATE=1, of the evaluation it runs)."""
    env = dict(os.environ if env is None else env)
    cfg = C.load(scope, env=env)
    ctx = context(cfg, scope, env, visible)
    contexts = [ctx]
    BUILDERS[scope](ctx)
    if scope == C.INFERENCE and cfg.evaluate:  # the evaluation sees what the driver exports
        inherited = {**env, **C.exports(cfg, C.INFERENCE)}
        ectx = context(C.load(C.EVALUATE, env=inherited), C.EVALUATE, inherited, visible)
        evaluate_steps(ectx)
        contexts.append(ectx)
    steps = [s for c in contexts for s in c.steps]
    vllm = {c.scope: engine_settings(c) for c in contexts}
    first = vllm[scope]
    datasets = {split: rows for c in contexts for split, rows in c.datasets.items()}
    return {
        "plan_version": PLAN_VERSION,
        "drivers": [c.scope for c in contexts],
        "run": str(cfg.layout.root),
        "preset": env.get("PRESET") or None,
        "hardware": {
            "gpus_per_node": ctx.gpus,
            "gpus_source": ctx.gpus_source,
            "nodes": ctx.topo.nnodes,
            "profile": cfg.profile,
        },
        "vllm": vllm,
        "datasets": datasets,
        "steps": steps,
        "totals": totals(steps, first["engines"] * first["tensor_parallel_size"]),
        "assumptions": assumptions(cfg, ctx.gpus_source),
        "notes": list(dict.fromkeys(n for c in contexts for n in c.notes)),
        "warnings": list(dict.fromkeys(w for c in contexts for w in c.warnings)),
        "knobs": {c.scope: c.cfg.as_dict(c.scope) for c in contexts},
    }


# ---------------------------------------------------------------------- a sweep's plan
def _add(a: dict, b: dict) -> dict:
    return {k: _add(v, b.get(k, {})) if isinstance(v, dict) else v + b.get(k, 0) for k, v in a.items()}


def sweep_plan(preset: str, env: Mapping[str, str] | None = None, visible: int | None = None) -> dict:
    """Every cell of a sweep preset at ``SCALE``, each driver planned with the cell's knobs."""
    env = dict(os.environ if env is None else env)
    state = sweep.plan(preset, env)  # expands the grid; writes nothing, takes no lock
    cells, total = [], totals([], 1)
    for c in state["cells"]:
        plans = []
        for driver in c["drivers"]:
            try:
                plans.append(build(driver, {**env, **c["knobs"][driver]}, visible))
            except UsageError as e:
                raise UsageError(f"cell {c['name']}, {driver}-all.sh: {e}") from None
        cell_total = totals([], 1)
        for p in plans:
            cell_total = _add(cell_total, p["totals"])
        total = _add(total, cell_total)
        cells.append({**{k: c[k] for k in ("name", "values", "drivers", "run")}, "totals": cell_total, "plans": plans})
    first = cells[0]["plans"][0] if cells else None
    return {
        "plan_version": PLAN_VERSION,
        "sweep": state["sweep"],
        "dir": state["dir"],
        "preset": state["preset"],
        "scale": state["scale"],
        "grid": state["grid"],
        "cells": cells,
        "totals": total,
        "assumptions": (first["assumptions"] if first else [])
        + ["cells that share a fine-tuning (TRAIN_REUSE_DIR) train it once; the totals count it in every cell"],
        "warnings": _by_cell(cells),
    }


def _by_cell(cells: list[dict]) -> list[str]:
    """Each warning once, with the cells it concerns."""
    where: dict[str, list[str]] = {}
    for c in cells:
        for p in c["plans"]:
            for w in p["warnings"]:
                if c["name"] not in where.setdefault(w, []):
                    where[w].append(c["name"])
    return [f"{w} ({'every cell' if len(names) == len(cells) > 1 else ', '.join(names)})" for w, names in where.items()]


# ---------------------------------------------------------------------- text
def _n(v: float) -> str:
    return f"{v:,}" if isinstance(v, int) else f"{v:,.1f}"


def _show(name: str, width: int) -> str:
    text = name.replace(str(C.ROOT) + "/", "")
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def _training_line(args: dict, batch: dict) -> str:
    zero = args.get("zero_stage")
    parts = [
        f"LLaMA-Factory {args.get('stage')} {args.get('finetuning_type')}",
        f"template {args.get('template')}",
        f"lr {args.get('learning_rate'):g}",
        f"{args.get('num_train_epochs'):g} epoch(s) {args.get('lr_scheduler_type')}",
        f"cutoff {args.get('cutoff_len')}",
        "bf16" if args.get("bf16") else "fp32",
        f"DeepSpeed ZeRO-{zero}" if zero else "no DeepSpeed",
    ]
    if int(args.get("max_steps", -1) or -1) > 0:
        parts.append(f"max_steps {args['max_steps']}")
    if batch.get("global_batch") and "world_size" in batch:
        how = (
            f"GLOBAL_BATCH {batch['global_batch']} = per-device {batch['per_device_train_batch_size']} x "
            f"accumulation {batch['gradient_accumulation_steps']} x world size {batch['world_size']}"
        )
    else:
        how = (
            f"effective batch {batch['effective_batch']} = per-device {batch['per_device_train_batch_size']} x "
            f"accumulation {batch['gradient_accumulation_steps']} x world size {batch['world_size']}"
        )
    return ", ".join(parts) + f"; {how}"


def render(plan: dict) -> str:
    hw = plan["hardware"]
    scripts = " + ".join(f"selfimprove/{d}-all.sh" for d in plan["drivers"])
    out = [f"plan of {scripts} -> {plan['run']} (nothing has run)"]
    if plan["preset"]:
        out.append(f"  PRESET={plan['preset']}")
    out.append(
        f"  GPUs: {hw['gpus_per_node']} per node x {hw['nodes']} node(s) ({hw['gpus_source']}); "
        f"training profile {hw['profile']}"
    )
    for driver, e in plan["vllm"].items():
        out.append(
            f"  vLLM ({driver}): ENGINE={e['engine']}, tensor parallel {e['tensor_parallel_size']} -> "
            f"{e['engines']} engine(s), max model len {e['max_model_len']}, GPU memory utilization "
            f"{e['gpu_memory_utilization']:g}, chunk {e['chunk_size']}, top_p {e['top_p']:g}"
        )
    for split, rows in plan["datasets"].items():
        listed = ", ".join(f"{r['spec']} {r['questions']:,} of {r['available']:,} ({r['source']})" for r in rows)
        out.append(f"  {split} questions: {sum(r['questions'] for r in rows):,} = {listed or 'none'}")
    trains = [s for s in plan["steps"] if s["kind"] == "train"]
    seen: dict[str, list[str]] = {}
    for s in trains:
        seen.setdefault(_training_line(s["llamafactory"], s["batch"]), []).append(s["step"])
    for line, names in seen.items():
        out.append(f"  training ({', '.join(names)}): {line}")
    gens = [s for s in plan["steps"] if s["kind"] == "generate"]
    if gens:
        out.append("")
        head = f"  {'generation step':<42} {'model':<40} {'prompts':>10} {'x n':>4} {'generations':>12}"
        out.append(head + f" {'max tok':>7} {'token budget':>14} {'temp':>5} {'GPU-h':>8}")
        for s in gens:
            where = "API" if s["where"] == "api" else f"{s['gpu_hours']:8.1f}"
            out.append(
                f"  {_show(s['step'], 42):<42} {_show(s['model'], 40):<40} {s['prompts']:>10,} {s['n']:>4} "
                f"{s['generations']:>12,} {s['max_tokens']:>7} {s['token_budget']:>14,} {s['temperature']:>5g} {where:>8}"
            )
    if trains:
        out.append("")
        out.append(
            f"  {'training step':<42} {'base model':<40} {'examples <=':>12} {'batch':>6} {'opt. steps':>10} "
            f"{'tokens <=':>14} {'GPU-h':>8}"
        )
        for s in trains:
            out.append(
                f"  {_show(s['step'], 42):<42} {_show(s['base_model'], 40):<40} {s['examples']:>12,} "
                f"{s['batch']['effective_batch']:>6} {s['optimizer_steps']:>10,} {s['token_ceiling']:>14,} "
                f"{s['gpu_hours']:>8.1f}"
            )
    out += [""] + _totals_lines(plan["totals"]) + _listed(plan)
    return "\n".join(out) + "\n"


def _totals_lines(t: dict) -> list[str]:
    h = t["gpu_hours"]
    lines = [
        f"  total: {t['generate_steps']} generation step(s), {t['prompts']:,} prompts, {t['generations']:,} "
        f"generations, token budget {t['token_budget']:,}; {t['trainings']} training(s), {t['training_examples']:,} "
        f"examples at most, {t['optimizer_steps']:,} optimizer steps"
    ]
    if t["api_generations"]:
        lines.append(f"  API: {t['api_generations']:,} generations, token budget {t['api_token_budget']:,} (no GPU)")
    lines.append(
        f"  GPU-hours (ceiling): generation {_n(h['generation'])}, training {_n(h['training'])}, "
        f"total {_n(h['total'])}; wall-clock about {_n(t['wall_hours'])} h with every GPU busy"
    )
    return lines


def _listed(plan: dict) -> list[str]:
    out = ["  assumptions:"] + [f"    - {a}" for a in plan["assumptions"]]
    if plan.get("notes"):
        out += ["  notes:"] + [f"    - {n}" for n in plan["notes"]]
    if plan["warnings"]:
        out += ["  warnings:"] + [f"    - {w}" for w in plan["warnings"]]
    return out


def render_sweep(plan: dict) -> str:
    out = [
        f"plan of sweep {plan['sweep']} ({plan['preset']}, SCALE={plan['scale']}) -> {plan['dir']} (nothing has run)"
    ]
    out.append("  grid: " + "; ".join(f"{axis} = {', '.join(values)}" for axis, values in plan["grid"].items()))
    out.append("")
    out.append(
        f"  {'cell':<48} {'drivers':<26} {'generations':>12} {'token budget':>15} {'examples <=':>12} "
        f"{'opt. steps':>10} {'GPU-h':>8}"
    )
    for c in plan["cells"]:
        t = c["totals"]
        out.append(
            f"  {_show(c['name'], 48):<48} {' '.join(c['drivers']):<26} {t['generations']:>12,} "
            f"{t['token_budget']:>15,} {t['training_examples']:>12,} {t['optimizer_steps']:>10,} "
            f"{t['gpu_hours']['total']:>8.1f}"
        )
    recipes: dict[str, int] = {}
    for c in plan["cells"]:
        for p in c["plans"]:
            for s in p["steps"]:
                if s["kind"] == "train":
                    line = _training_line(s["llamafactory"], s["batch"])
                    recipes[line] = recipes.get(line, 0) + 1
    out += [f"  training ({n} fine-tuning(s)): {line}" for line, n in recipes.items()]
    out += [""] + _totals_lines(plan["totals"]) + _listed(plan)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    ap = parser("plan", __doc__.split("\n\n")[0])
    ap.add_argument("driver", nargs="?", choices=C.SCOPES, help="the driver whose run is planned")
    ap.add_argument("--sweep", metavar="PRESET", help="plan every cell of a sweep preset (at SCALE) instead")
    ap.add_argument("--json", action="store_true", help="print plan.json instead of the tables")
    args = ap.parse_args(argv)
    if (args.driver is None) == (args.sweep is None):
        raise UsageError("give a driver (inference, evaluate, critic, selftalk) or --sweep PRESET")
    env = dict(os.environ)
    visible = distributed.visible_gpus(env)
    if args.sweep:
        plan = sweep_plan(args.sweep, env, visible)
        folder, text = Path(plan["dir"]), render_sweep(plan)
    else:
        plan = build(args.driver, env, visible)
        folder, text = Path(plan["run"]), render(plan)
    unusable = C.check_run_folder(str(folder.parent), folder)
    if unusable:
        raise UsageError(unusable)
    out = RunLayout(folder).plan
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, plan)
    print(json.dumps(plan, indent=2) if args.json else text + f"  plan written: {out}")
    return 0
