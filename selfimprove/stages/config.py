"""The drivers' configuration, checked in full before any compute; the run lock.

::

    eval "$(python -m selfimprove config shell inference)"   # resolve + check, print KEY=VALUE lines
    python -m selfimprove config begin inference --owner-pid $$   # ... and lock runs/<EXP>, record the config
                                                             # (_run_lock_held=FILE: the driver flocks it)
    python -m selfimprove config end --run-dir RUN --owner-pid $$  # release the lock
    python -m selfimprove config show evaluate               # the resolved knobs as JSON
    python -m selfimprove config knobs inference             # every knob and its meaning

Beyond the per-knob checks of :mod:`selfimprove.core.config` (types, ranges, names), ``shell``
and ``begin`` check what needs the rest of the package: that ``RUNS_DIR/EXP_NUM`` can be created
and written, model folders or cached hub ids, the dataset specs (registry, files), the feedback
files (parsed now, not after iteration 0's training), for the drivers that fine-tune that
GLOBAL_BATCH divides over this node's GPUs (when it sees them), and for the evaluation the actors
to evaluate (config, tokenizer, weights). The inference driver also checks the evaluation's knobs
when ``EVALUATE=1``. Every problem is one ``error:`` line, exit code 2.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from selfimprove.core import config as C
from selfimprove.core import manifest, runlock
from selfimprove.core.errors import DataError, UsageError
from selfimprove.core.parsing import ArgumentParser
from selfimprove.critic.programmatic import NAME as PROGRAMMATIC
from selfimprove.data.spec import dataset_types
from selfimprove.training import distributed
from selfimprove.training.launcher import PROFILES, global_batch_args, train_overrides
from selfimprove.training.weights import check_model_folder, tokenizer_problems

log = logging.getLogger(__name__)


def check_datasets(specs: str, split: str, knob: str, data_dir: Path) -> list[str]:
    from selfimprove.data.datasets import DatasetError, check_spec

    problems = []
    for spec in specs.split():
        try:
            check_spec(spec, split, data_dir)
        except DatasetError as e:
            problems.append(f"{knob}: {e}")
    return problems or ([] if specs.split() else [f"{knob} is empty"])


def resolve_feedback(cfg: C.Config) -> C.Config:
    """``FEEDBACK_FILE=auto`` -> the released files for the training datasets' types in DATA_DIR;
    every file is parsed now. Without a file, ``USE_GPT4_FEEDBACK`` left at its default turns off
    with a warning; set to 1 explicitly, it is an error."""
    if not cfg.use_gpt4_feedback:
        return cfg
    files, why = cfg.feedback_file.split(), "FEEDBACK_FILE is empty"
    if cfg.feedback_file.strip() == "auto":
        from selfimprove.data.feedback import FeedbackFilesMissing, feedback_files

        # $DATA_DIR of this process when set, else the configuration's value
        data_dir = C.data_folder(os.environ.get("DATA_DIR", cfg.data_dir))
        try:
            files = [str(p) for p in feedback_files(dataset_types(cfg.dataset_name.split()), data_dir)]
        except FeedbackFilesMissing as e:
            files, why = [], str(e)
    if not files:
        if cfg.sources.get("use_gpt4_feedback") != "default":
            raise UsageError(
                f"USE_GPT4_FEEDBACK=1 but {why}; name the files in FEEDBACK_FILE, or set USE_GPT4_FEEDBACK=0"
            )
        log.warning("%s; iteration 0 trains without critique->refinement examples (USE_GPT4_FEEDBACK=0)", why)
        return dataclasses.replace(cfg, use_gpt4_feedback=False, feedback_file="")
    from selfimprove.training.export import load_feedback_files

    for f in files:
        if not os.path.isfile(f):
            raise UsageError(f"FEEDBACK_FILE {f} not found")
    try:
        _, problems, _ = load_feedback_files(files)
    except DataError as e:
        raise UsageError(f"FEEDBACK_FILE: {e}") from None
    for p in problems:
        log.warning("FEEDBACK_FILE: %s (row skipped)", p)
    return dataclasses.replace(cfg, feedback_file=" ".join(files))


def eval_actors(cfg: C.Config) -> list[tuple[str, str]]:
    """``(label, model path)`` of every actor the evaluation covers, each iteration's actor checked."""
    return C.eval_actors(cfg, check_folder=check_model_folder)


def _check_critic(cfg: C.Config, env: Mapping[str, str]) -> list[str | None]:
    """critic-all.sh: its models, annotator, API critic and question sets."""
    problems = [C.check_model(cfg.model_name, "model_name", env)]
    if cfg.critic_base_model != cfg.model_name:
        problems.append(C.check_model(cfg.critic_base_model, "critic_base_model", env))
    if cfg.inserter == "model" and cfg.inserter_model != cfg.model_name:
        problems.append(C.check_model(cfg.inserter_model, "INSERTER_MODEL", env))
    if cfg.annotator == "model":
        if not cfg.annotator_model:
            problems.append("ANNOTATOR=model needs ANNOTATOR_MODEL")
        elif not cfg.annotator_base_url:
            problems.append(C.check_model(cfg.annotator_model, "ANNOTATOR_MODEL", env))
    if "api" in cfg.eval_critics and not (cfg.critic_api_model and cfg.critic_base_url):
        problems.append("EVAL_CRITICS has api: set CRITIC_API_MODEL and CRITIC_BASE_URL")
    if "likelihood" in cfg.eval_critics and not cfg.likelihood_solutions:
        problems.append("EVAL_CRITICS has likelihood: set LIKELIHOOD_SOLUTIONS (the fine-tune of its scoring model)")
    problems += check_datasets(cfg.critic_dataset_name, "train", "critic_dataset_name", C.env_data_folder(env))
    problems += check_datasets(cfg.critic_test_dataset_name, "test", "critic_test_dataset_name", C.env_data_folder(env))
    return problems


def _check_selftalk(cfg: C.Config, env: Mapping[str, str]) -> list[str | None]:
    """selftalk-all.sh: its models (the judge and smoother only when they are models) and question sets."""
    problems = [C.check_model(cfg.model_name, "model_name", env)]
    if cfg.judge == "model" and not cfg.critic_base_url and cfg.critic_model_name != cfg.model_name:
        problems.append(C.check_model(cfg.critic_model_name, "critic_model_name", env))
    if cfg.smoother == "llm" and not cfg.critic_base_url and cfg.smoother_model_name != cfg.model_name:
        problems.append(C.check_model(cfg.smoother_model_name, "smoother_model_name", env))
    if cfg.sft_model:
        problems.append(C.check_model(cfg.sft_model, "SFT_MODEL", env))
    problems += check_datasets(cfg.dataset_name, "train", "dataset_name", C.env_data_folder(env))
    problems += check_datasets(cfg.test_dataset_name, "test", "test_dataset_name", C.env_data_folder(env))
    return problems


def global_batch_problem(cfg: C.Config, scope: str, env: Mapping[str, str]) -> str | None:
    """Why GLOBAL_BATCH cannot be split on this node's GPUs, found before the first stage rather than
    at the first training; None when it can, or when the GPUs or nodes are not known here (the
    train stage decides then)."""
    if scope not in (C.INFERENCE, C.CRITIC, C.SELFTALK) or not cfg.global_batch:
        return None
    gpus = distributed.visible_gpus(env) if cfg.profile == "gpu" else None
    if cfg.profile == "gpu" and not gpus:
        return None
    try:
        topo = distributed.read_topology(env, gpus, resolve=lambda host: None)
    except distributed.DistributedError:
        return None  # reported by the train stage, on the node it concerns
    overrides = train_overrides(cfg, scope)
    args = {**PROFILES[cfg.profile], **overrides}
    try:
        global_batch_args(args, cfg.global_batch, distributed.world_size(topo, gpus, cfg.profile, args), overrides)
    except UsageError as e:
        return str(e)
    return None


def resolve(scope: str, env: Mapping[str, str] | None = None, nested: bool = False) -> C.Config:
    """Load and check one driver's configuration completely (raises :class:`UsageError`)."""
    env = os.environ if env is None else env
    cfg = C.load(scope, env=env)
    unusable = C.check_run_folder(cfg.runs_dir, cfg.layout.root) or global_batch_problem(cfg, scope, env)
    if unusable:  # before the lock's mkdir and before any compute
        raise UsageError(unusable)
    if scope in (C.CRITIC, C.SELFTALK):
        found = (_check_critic if scope == C.CRITIC else _check_selftalk)(cfg, env)
        if any(found):
            raise UsageError("; ".join(dict.fromkeys(p for p in found if p)))
        return cfg
    problems = [C.check_model(cfg.model_name, "model_name", env)]
    uses_critic = cfg.use_critic if scope == C.INFERENCE else cfg.test_use_critic
    if cfg.critic_model_name == PROGRAMMATIC and uses_critic:
        if scope == C.EVALUATE:  # the evaluation's critic judges test answers: it must not know the gold
            problems.append(
                f"critic_model_name={PROGRAMMATIC} critiques training samples only; evaluate with TEST_USE_CRITIC=0 "
                "or a critique model"
            )
    elif uses_critic and not cfg.critic_base_url and cfg.critic_model_name != cfg.model_name:
        problems.append(C.check_model(cfg.critic_model_name, "critic_model_name", env))
    if scope == C.EVALUATE:
        for label, path in C.eval_actors(cfg) if cfg.actor_models else []:  # the named models, checked below
            problem = C.check_model(path, f"ACTOR_MODELS ({label})", env)
            if problem is None and (Path(path) / "config.json").is_file():  # a local folder: its tokenizer too
                problem = next((f"ACTOR_MODELS ({label}): {p}" for p in tokenizer_problems(Path(path))), None)
            problems.append(problem)
    issues = [p for p in problems if p]
    if scope == C.INFERENCE:
        issues += check_datasets(cfg.dataset_name, "train", "dataset_name", C.env_data_folder(env))
    if scope == C.EVALUATE or cfg.test_dataset_name != cfg.dataset_name or not issues:
        issues += check_datasets(cfg.test_dataset_name, "test", "test_dataset_name", C.env_data_folder(env))
    if issues:
        raise UsageError("; ".join(dict.fromkeys(issues)))
    if scope == C.INFERENCE:
        cfg = resolve_feedback(cfg)
        if cfg.evaluate:  # the evaluation at the end sees what this driver exports
            inherited = dict(env)
            inherited.update(C.exports(cfg, C.INFERENCE))
            resolve(C.EVALUATE, inherited, nested=True)
    elif not nested:
        eval_actors(cfg)
    return cfg


def shell(cfg: C.Config, scope: str, token: str | None = None) -> str:
    lines = C.shell_lines(cfg, scope)
    if scope == C.EVALUATE:
        actors = " ".join(shlex.quote(f"{label}={path}") for label, path in eval_actors(cfg))
        lines.append(f"actors=({actors})")
    if token:
        lines.append(f"export {runlock.TOKEN_ENV}={shlex.quote(token)}")
    return "\n".join(lines) + "\n"


def knob_table(scope: str, markdown: bool = False) -> str:
    """Each knob of a driver with its meaning; as Markdown, with the default (the README's tables)."""
    rows = C.knobs(scope).values()
    if not markdown:
        return "".join(f"{k.env:<26} {k.meaning}\n" for k in rows)

    def default(k: C.Knob) -> str:
        value = k.per_scope.get(scope, k.default)
        if k.derive is not None and value in (None, ""):
            return "derived"
        if isinstance(value, bool):
            value = int(value)
        text = "" if value is None else str(value).replace(str(C.ROOT) + "/", "")
        return f"`{text}`" if text else "–"

    out = ["| knob | default | meaning |", "|---|---|---|"]
    out += [f"| `{k.env}` | {default(k)} | {k.meaning.replace('|', '/')} |" for k in rows]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(prog="python -m selfimprove config", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, text in (
        ("shell", "check everything, print shell assignments"),
        ("begin", "check everything, take the run lock, record the config, print shell assignments"),
        ("show", "check everything, print the resolved knobs as JSON"),
        ("knobs", "print each knob of a driver with its meaning"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("driver", choices=C.SCOPES)
        if name == "knobs":
            p.add_argument("--markdown", action="store_true", help="a Markdown table with each default")
        if name == "begin":
            p.add_argument("--owner-pid", type=int, required=True, help="the driver's process id ($$)")
    e = sub.add_parser("end", help="release the run lock taken by begin")
    e.add_argument("--run-dir", required=True)
    e.add_argument("--owner-pid", type=int, required=True)
    args = ap.parse_args(argv)
    if args.cmd == "end":
        runlock.release(args.run_dir, args.owner_pid)
        return 0
    if args.cmd == "knobs":
        print(knob_table(args.driver, args.markdown), end="")
        return 0
    cfg = resolve(args.driver)
    if cfg.plan and args.cmd != "show":  # the drivers stop for PLAN=1 before this (selfimprove/driver-begin.sh)
        raise UsageError(
            f"PLAN=1 ({cfg.sources['plan']}) asks for a plan, not a run; set it in the environment of the driver "
            f"(PLAN=1 bash selfimprove/{args.driver}-all.sh), which then stops before any stage"
        )
    if args.cmd == "show":
        print(json.dumps(cfg.as_dict(args.driver), indent=2))
        return 0
    token = None
    held = ""
    if args.cmd == "begin":
        run_dir = cfg.layout.root
        token, taken = runlock.acquire(run_dir, args.owner_pid)
        try:
            manifest.record_run(run_dir, args.driver, cfg.as_dict(args.driver))
        except OSError as e:  # a full disk, most often: before any compute, so one line and exit 2
            if taken:
                runlock.release(run_dir, args.owner_pid)
            raise UsageError(
                f"cannot record the run in {e.filename or cfg.layout.manifest}: {e.strerror or e} (errno {e.errno}); "
                f"check RUNS_DIR={cfg.runs_dir} (free space, permissions)"
            ) from None
        if taken:  # the driver holds this file's flock while any process of the run lives
            held = str(runlock.held_path(run_dir))
    text = shell(cfg, args.driver, token)
    if args.cmd == "begin":
        text += f"_run_lock_held={shlex.quote(held)}\n"
    print(text, end="")
    return 0
