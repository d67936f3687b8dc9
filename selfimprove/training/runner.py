"""One fine-tuning run, start to finish: check the data and the nodes, write the YAML, train, publish.

Used by both roles of ``python -m selfimprove train`` (the actor of an iteration, a critique model):

* the data file is checked first (a JSON list of sharegpt or alpaca records, not empty; alpaca
  outputs end with the model's EOS, as :func:`selfimprove.training.export.to_alpaca` writes them);
* the file is registered in ``dataset_info.json`` beside it (other entries kept) and every
  training argument is written to a YAML file;
* LLaMA-Factory trains into ``OUT.partial``; only a finished run whose folder passes
  :func:`~selfimprove.training.weights.check_model_folder` is renamed to ``OUT``; a disk whose free
  space is less than the base model folder's size is refused before the trainer starts
  (:func:`check_space`: one line, exit code 2);
* the step is recorded in the run manifest with the data file and the model folder fingerprinted.
  A step recorded as done is skipped only if the data file is unchanged and ``OUT`` still passes
  the check; otherwise it is trained again, saying what differs;
* with checkpoints on, a killed run resumes from its newest complete ``checkpoint-N``; with them
  off (the default) only the final model is kept;
* with several nodes (``NNODES`` > 1) every node runs the same command: each checks the settings
  and waits for the other nodes' markers; node 0 records the step and publishes the model;
* with a global batch (``global_batch``, knob ``GLOBAL_BATCH``) the gradient accumulation is
  computed from the world size (GPUs x nodes), refused unless it divides, logged, and recorded
  in the step's counts;
* with a reuse folder (``reuse_dir``, knob ``TRAIN_REUSE_DIR``; single node) a training whose
  arguments, data bytes and base model match one filed there takes that model instead of training
  again, and every finished training is filed (:mod:`selfimprove.training.reuse`).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from selfimprove.core.errors import DataError, NotEnoughSpace, UsageError
from selfimprove.core.io import atomic_write_text, read_json
from selfimprove.core.manifest import Step
from selfimprove.training import distributed
from selfimprove.training.export import model_eos_token
from selfimprove.training.launcher import (
    BASE_TEMPLATE,
    TrainingError,
    check_model_folder,
    describe_batch,
    find_cli,
    global_batch_args,
    latest_checkpoint,
    register_dataset,
    remove_checkpoints,
    run_trainer,
    to_yaml,
    train_results,
    trainer_env,
    training_args,
)
from selfimprove.training.reuse import ReuseDir, ReuseEntry, link_tree, reuse_key


@dataclass
class TrainJob:
    """What one run trains (``data_file`` -> ``out_dir``) and where it keeps its records."""

    run_dir: Path
    step: str
    data_file: Path
    out_dir: Path
    dataset: str
    fmt: str
    base_model: str
    template: str
    profile: str = "cpu"
    default_system: str | None = None
    overrides: dict = field(default_factory=dict)
    keep_checkpoints: bool = False
    save_steps: int | None = None
    zero_stage: int = 2
    global_batch: int = 0  # > 0: gradient accumulation = global_batch / (per-device batch x world size)
    yaml_path: Path | None = None
    log_path: Path | None = None
    cli: str | None = None
    cli_from_env: str | None = None  # $LLAMAFACTORY_CLI, read by the stage: tried after ``cli``
    reuse_dir: str | None = None

    @property
    def partial(self) -> Path:
        return self.out_dir.with_name(self.out_dir.name + ".partial")


log = logging.getLogger(__name__)


def _say(job: TrainJob, msg: str, level: int = logging.INFO) -> None:
    log.log(level, "[%s] %s", job.step, msg)


def load_records(job: TrainJob) -> list[dict]:
    """The SFT records of ``job.data_file``, checked for the shape LLaMA-Factory will read."""
    data = read_json(job.data_file)
    if not isinstance(data, list) or not data:
        raise DataError(f"{job.data_file}: expected a non-empty JSON list of {job.fmt} records")
    for i, rec in enumerate(data):
        ok = isinstance(rec, dict) and (
            isinstance(rec.get("conversations"), list) and rec["conversations"]
            if job.fmt == "sharegpt"
            else isinstance(rec.get("instruction"), str) and isinstance(rec.get("output"), str)
        )
        if not ok:
            want = "a 'conversations' list" if job.fmt == "sharegpt" else "'instruction' and 'output' strings"
            raise DataError(f"{job.data_file}[{i}]: not a {job.fmt} record (needs {want}); check --format")
    return data


def resolve_template(job: TrainJob, records: list[dict]) -> tuple[str, str | None]:
    """The template and default system prompt LLaMA-Factory gets.

    alpaca files hold the sampler's base layout, already rendered (EOS included): the template
    must add nothing, so ``default`` (the released code's choice for base models) maps to
    ``empty``, and a default system prompt does not apply."""
    if job.fmt != "alpaca":
        return job.template, job.default_system
    if job.template not in ("default", BASE_TEMPLATE):
        raise UsageError(
            f"alpaca SFT files are rendered in the base layout already; use --template {BASE_TEMPLATE} "
            f"(or default), not {job.template!r}"
        )
    eos = model_eos_token(job.base_model)
    if eos is not None:
        bad = [i for i, r in enumerate(records) if not r["output"].endswith(eos)]
        if bad:
            raise DataError(
                f"{job.data_file}: {len(bad)} of {len(records)} alpaca outputs do not end with the model's EOS "
                f"{eos!r} (first: record {bad[0]}); rewrite the file with the filter stage's --eos-token {eos}"
            )
    return BASE_TEMPLATE, None


def run_job(job: TrainJob, env: Mapping[str, str] | None = None) -> Path | None:
    """Train ``job`` (or skip it when done and intact). Returns the model folder (None on worker nodes)."""
    env = dict(os.environ if env is None else env)
    if Path(job.base_model).exists():
        if not (Path(job.base_model) / "config.json").is_file():
            raise UsageError(f"{job.base_model} is not a model folder (no config.json)")
        job.base_model = str(Path(job.base_model).resolve())  # the trainer runs in the data's folder
    records = load_records(job)
    template, system = resolve_template(job, records)
    gpus = distributed.visible_gpus(env) if job.profile == "gpu" else None
    if job.profile == "gpu" and gpus == 0:
        raise UsageError("--profile gpu but this node sees no GPU (CUDA_VISIBLE_DEVICES / nvidia-smi)")
    topo = distributed.read_topology(env, gpus)
    yaml_path = job.yaml_path or job.data_file.with_suffix(".train.yaml")
    log_path = job.log_path or job.data_file.with_suffix(".train.log")
    if not topo.is_main:
        log_path = log_path.with_name(f"{log_path.stem}.node{topo.node_rank}{log_path.suffix}")
    targs = training_args(
        job.profile,
        job.base_model,
        template,
        job.data_file.parent,
        job.dataset,
        job.partial,
        {"default_system": system, **job.overrides},
        keep_checkpoints=job.keep_checkpoints,
        save_steps=job.save_steps,
        zero_stage=job.zero_stage,
    )
    batch: dict = {}
    if job.global_batch:  # refused here, before anything is written, when it does not divide
        world = distributed.world_size(topo, gpus, job.profile, targs)
        targs, batch = global_batch_args(targs, job.global_batch, world, job.overrides)
        _say(job, describe_batch(batch))
    step = Step(job.run_dir, job.step, targs, inputs=[job.data_file], outputs=[job.out_dir])
    step.count(**batch)  # the computation, in the step's manifest entry
    if step.done:
        problems = step.verify() + check_model_folder(job.out_dir)
        if not problems:
            _say(job, f"already done, skipping ({job.out_dir})")
            return job.out_dir
        _say(
            job,
            "recorded as done, but " + "; ".join(problems) + "; training again",
            logging.WARNING,
        )
    reuse = ReuseDir(job.reuse_dir) if job.reuse_dir and not topo.multinode else None
    key = reuse_key(targs, job.data_file, job.fmt) if reuse else ""
    entry = reuse.lookup(key) if reuse else None
    if entry is not None:
        return publish_reused(job, step, entry, records, yaml_path, log_path, targs)
    cli = find_cli(job.cli, job.cli_from_env)
    if topo.multinode:
        timeout = float(env.get("NODE_WAIT_S", "600"))
        _say(job, f"node {topo.node_rank} of {topo.nnodes}: waiting for the other nodes (up to {timeout:.0f}s)")
        distributed.wait_for_nodes(job.run_dir / ".nodes" / job.step.replace("/", "_"), topo, timeout)
    run_args = dict(targs)
    resumed = None
    if job.keep_checkpoints:
        resumed = latest_checkpoint(job.partial)
        if resumed is not None:
            run_args["resume_from_checkpoint"] = str(resumed)
            _say(job, f"resuming from {resumed}")
    elif topo.is_main and job.partial.exists():
        shutil.rmtree(job.partial)  # a killed run without checkpoints: nothing to resume from
    if topo.is_main:
        check_space(job, env)
    register_dataset(job.data_file.parent, job.dataset, job.data_file.name, job.fmt)
    atomic_write_text(yaml_path, to_yaml(run_args))
    launch = trainer_env(env, distributed.launch_env(topo, job.profile))
    _say(job, f"{cli} train {yaml_path} (log: {log_path})")
    if not topo.is_main:  # worker node: train only; node 0 records the step and publishes the model
        run_trainer(cli, yaml_path, log_path, launch)
        return None
    with step:
        run_trainer(cli, yaml_path, log_path, launch)
        problems = check_model_folder(job.partial)
        if problems:
            raise TrainingError(f"training ended but {job.partial} is incomplete: " + "; ".join(problems))
        if not job.keep_checkpoints:
            remove_checkpoints(job.partial)
        if job.out_dir.exists():
            shutil.rmtree(job.out_dir)
        job.partial.rename(job.out_dir)
        result = train_results(job.out_dir)
        step.count(
            examples=len(records),
            train_loss=result.get("train_loss"),
            train_runtime=result.get("train_runtime"),
            resumed_from=resumed.name if resumed else None,
        )
    if reuse is not None and reuse.store(key, job.out_dir, source=str(job.out_dir), step=job.step, train_args=targs):
        _say(job, f"filed for reuse in {reuse.entry_dir(key)}")
    return job.out_dir


def model_folder(name: str, env: Mapping[str, str]) -> Path | None:
    """The local folder of a model: the folder itself, or a hub id's newest snapshot in the
    Hugging Face cache; None when it is not here."""
    if Path(name).is_dir():
        return Path(name)
    home = Path(env.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    cache = Path(env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or home / "hub")
    snaps = cache / f"models--{name.replace('/', '--')}" / "snapshots"
    found = sorted(snaps.iterdir(), key=lambda p: p.stat().st_mtime) if snaps.is_dir() else []
    return found[-1] if found else None


def folder_bytes(folder: Path) -> int:
    """The bytes of every file under ``folder`` (links followed: a hub snapshot links its blobs)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def check_space(job: TrainJob, env: Mapping[str, str]) -> None:
    """Refuse to start a training whose model copy cannot fit: the free space where ``OUT.partial``
    is written must hold at least the base model folder's size (checkpoints need more)."""
    base = model_folder(job.base_model, env)
    if base is None:
        return
    need = folder_bytes(base)
    where = next(p for p in (job.partial.parent, *job.partial.parent.parents) if p.exists())
    free = shutil.disk_usage(where).free
    if free < need:
        raise NotEnoughSpace(
            f"{where}: {_size(free)} free, but training {job.step} writes a model copy of about {_size(need)} "
            f"(the size of {base}); free space on that disk and rerun the same command: it continues where it stopped"
        )


def publish_reused(
    job: TrainJob, step: Step, entry: ReuseEntry, records: list, yaml_path: Path, log_path: Path, targs: dict
) -> Path:
    """``job.out_dir`` from a filed training with the same inputs, recorded as a finished step."""
    _say(job, f"same arguments, data and base model as {entry.record.get('source')}: reusing {entry.model}")
    atomic_write_text(yaml_path, to_yaml(targs))
    with step:
        for stale in (job.partial, job.out_dir):
            if stale.exists():
                shutil.rmtree(stale)
        link_tree(entry.model, job.partial)
        job.partial.rename(job.out_dir)
        atomic_write_text(
            log_path,
            f"not trained: reused {entry.model} (trained as {entry.record.get('source')}, "
            f"step {entry.record.get('step')}, filed {entry.record.get('filed')}); same arguments, data and base model\n",
        )
        result = train_results(job.out_dir)
        step.count(
            examples=len(records),
            train_loss=result.get("train_loss"),
            train_runtime=result.get("train_runtime"),
            reused_from=str(entry.record.get("source")),
        )
    return job.out_dir
