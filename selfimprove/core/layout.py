"""The run layout: every path and step name under ``runs/<EXP>/``, spelled once.

::

    runs/<EXP>/
      manifest.json  accuracy.json  plan.json (PLAN=1)  .run.lock  .run.lock.held
      data/train.jsonl  data/test.jsonl                         step data/<split>
      iter_0/sft.json                                           step iter_0/sft
      iter_k/01_samples.jsonl                                   step iter_k/01_samples
             02_critiques.jsonl                                 step iter_k/02_critiques
             03_refinements.jsonl                               step iter_k/03_refinements
             04_sft.json  04_critic_data.json                   step iter_k/04_sft
             dataset_info.json  train.yaml  train.log  actor/  actor.partial/   step iter_k/05_train
      eval/<label>/greedy.jsonl  pool.jsonl  pool_critiques.jsonl  pool_refinements.jsonl
                   chain_<mode>.jsonl  chain_<mode>_critiques.jsonl  chain_<mode>_round<r>.jsonl
                   results.json                                 step eval/<label>
      eval/report.md  eval/*.png  eval/exploration.json  eval/exploration_*.png
      critic/data/{train,test}.jsonl                            steps critic/00_questions_<split>
             01_flawed_paths.jsonl  02_annotations.jsonl         steps critic/01_flawed_paths, 02_annotations
             03_mc_filter.jsonl  03_mc_refinements.jsonl         step critic/03_mc_filter
             04_dataset.json  dataset_info.json  stats.json      step critic/04_dataset
             model/                                             step critic/05_train
             eval/paths.jsonl  responses.jsonl  results.json  report.md  critics.png
                  <critic>/critiques.jsonl  refinements.jsonl  processbench.jsonl   step critic/06_eval
      selftalk/01_samples.jsonl  02_critiques.jsonl  03_refinements.jsonl   steps selftalk/0k_<name>
               chains.jsonl  selftalk_sft.json                  step selftalk/04_chains
               selfcorrect_sft.json                             step selftalk/05_selfcorrect_data
               selftalk_model/  selfcorrect_model/              steps selftalk/06_train_selftalk, 07_...
      eval_onep/<method>/greedy.jsonl  pool.jsonl  <tag>_critiques.jsonl  <tag>_refinements.jsonl
                         <tag>_checks.jsonl  <tag>_corrections.jsonl  row.json   steps eval_onep/<method>
      eval_onep/results.json  eval_onep/report.md
      <any output>.shards/<i>-of-<n>.jsonl  .status.json  .claim   (--shard i/n)

    RUNS_DIR/<sweep>/sweep.json  plan.json  comparison.json  report.md  compare_*.png  (a sweep; a comparison)
    <critic_curve --out>/comparison.json  report.md  critic_curve.png

Code asks a :class:`RunLayout` for a path (``layout.samples(1)``) or a step name
(``layout.step("samples", 1)``); shell drivers ask ``python -m selfimprove layout RUN_DIR
samples --iter 1`` (:mod:`selfimprove.stages.layout`); the critic and self-talk drivers get every
path and step name of their pipeline at once (:meth:`RunLayout.pipeline`, as ``${files[role]}``
and ``${steps[role]}``). The experiment name is checked here (:func:`check_experiment_name`), so a
run directory always stays inside its ``RUNS_DIR``.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from selfimprove.core.errors import UsageError

MANIFEST = "manifest.json"
SPLITS = ("train", "test")

# file (or folder) names inside iter_k/, by role
ITER_FILES = {
    "samples": "01_samples.jsonl",
    "critiques": "02_critiques.jsonl",
    "refinements": "03_refinements.jsonl",
    "sft": "04_sft.json",  # iteration 0: "sft.json"
    "critic_data": "04_critic_data.json",
    "dataset_info": "dataset_info.json",
    "train_yaml": "train.yaml",
    "train_log": "train.log",
    "actor": "actor",
    "actor_partial": "actor.partial",
}
ITER0_SFT = "sft.json"
# step names inside iter_k/, by role (the manifest's keys are iter_k/<name>)
ITER_STEPS = {
    "samples": "01_samples",
    "critiques": "02_critiques",
    "refinements": "03_refinements",
    "sft": "04_sft",  # iteration 0: "sft"
    "train": "05_train",
}
# files of one evaluated actor, eval/<label>/
EVAL_FILES = {
    "greedy": "greedy.jsonl",
    "pool": "pool.jsonl",
    "pool_critiques": "pool_critiques.jsonl",
    "pool_refinements": "pool_refinements.jsonl",
    "results": "results.json",
}

# the critique-model pipeline (critic-all.sh) under critic/: role -> (path, the step that writes it)
CRITIC_FILES: dict[str, tuple[str, str | None]] = {
    "train_questions": ("data/train.jsonl", "00_questions_train"),
    "test_questions": ("data/test.jsonl", "00_questions_test"),
    "paths": ("01_flawed_paths.jsonl", "01_flawed_paths"),
    "annotations": ("02_annotations.jsonl", "02_annotations"),
    "mc_filter": ("03_mc_filter.jsonl", "03_mc_filter"),
    "mc_refinements": ("03_mc_refinements.jsonl", None),
    "dataset": ("04_dataset.json", "04_dataset"),
    "dataset_info": ("dataset_info.json", None),
    "stats": ("stats.json", None),
    "model": ("model", "05_train"),
    "solutions": ("04_solutions.json", "04_solutions"),
    "solutions_split": ("04_solutions.split.json", None),
    "likelihood": ("likelihood", "05_likelihood"),
    "calibration": ("05_likelihood_calibration.jsonl", "05_likelihood_calibration"),
    "eval": ("eval", "06_eval"),
    "report": ("eval/report.md", None),
}
# the one-player pipeline (selftalk-all.sh), relative to the run: role -> (path, step)
SELFTALK_FILES: dict[str, tuple[str, str | None]] = {
    "samples": ("selftalk/01_samples.jsonl", "selftalk/01_samples"),
    "critiques": ("selftalk/02_critiques.jsonl", "selftalk/02_critiques"),
    "refinements": ("selftalk/03_refinements.jsonl", "selftalk/03_refinements"),
    "chains": ("selftalk/chains.jsonl", "selftalk/04_chains"),
    "selftalk_sft": ("selftalk/selftalk_sft.json", None),
    "selfcorrect_sft": ("selftalk/selfcorrect_sft.json", "selftalk/05_selfcorrect_data"),
    "selftalk_model": ("selftalk/selftalk_model", "selftalk/06_train_selftalk"),
    "selfcorrect_model": ("selftalk/selfcorrect_model", "selftalk/07_train_selfcorrect"),
    "eval": ("eval_onep", "eval_onep"),  # eval_onep/<method>/, step eval_onep/<method>
    "report": ("eval_onep/report.md", None),
}
# files of one row of the one-player table, eval_onep/<method>/ ({tag}: which answers a file is
# about, greedy or pool); row.json is the row itself
ONEP_FILES = {
    "greedy": "greedy.jsonl",
    "pool": "pool.jsonl",
    "critiques": "{tag}_critiques.jsonl",
    "refinements": "{tag}_refinements.jsonl",
    "checks": "{tag}_checks.jsonl",
    "corrections": "{tag}_corrections.jsonl",
    "row": "row.json",
}
# the one-player table itself, eval_onep/
ONEP_TABLE_FILES = {"results": "results.json", "report": "report.md"}

# a critic evaluation (critic_eval's --out-dir; critic/eval/ of a run)
CRITIC_EVAL_FILES = {
    "paths": "paths.jsonl",  # flawed paths built from the test questions
    "responses": "responses.jsonl",  # the balanced held-out responses every critic judges
    "results": "results.json",
    "report": "report.md",
    "plot": "critics.png",
}
# one compared critic's files, <critic evaluation>/<critic name>/
CRITIC_EVAL_CRITIC_FILES = {
    "critiques": "critiques.jsonl",
    "refinements": "refinements.jsonl",
    "processbench": "processbench.jsonl",
}
# the critic's learning curve over runs (critic_curve's --out)
CRITIC_CURVE_FILES = {"comparison": "comparison.json", "report": "report.md", "plot": "critic_curve.png"}
# the exploration analysis of a run's training records (exploration's --out; eval/ in the report;
# the plots take a prefix)
EXPLORATION_FILES = {
    "analysis": "exploration.json",
    "kept": "kept_by_level.png",
    "efficiency": "efficiency.png",
    "diversity": "diversity.png",
    "frequency": "correct_frequency.png",
}
# a comparison of runs (compare's --out; a sweep's folder)
COMPARISON_FILES = {
    "comparison": "comparison.json",
    "report": "report.md",
    "iterations": "compare_pass_at_1_per_iteration.png",
    "grid": "compare_table3_grid.png",
    "critics": "compare_critics.png",
    "levels": "compare_level_differences.png",
}
# one shard of a generating step, beside its output: <name>.shards/<i>-of-<n><suffixes of the output>
SHARD_FILES = {"records": "{label}{suffix}", "status": "{label}.status.json", "claim": "{label}.claim"}
SWEEP_STATE = "sweep.json"  # RUNS_DIR/<sweep>/sweep.json
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._-]+")  # the characters of a name a user types (EXP_NUM, ...)
NOT_TRAINED = "not_trained.json"  # in a model folder whose training data was empty: why, instead of weights


def _named(table: dict[str, str], role: str, what: str) -> str:
    if role not in table:
        raise UsageError(f"unknown {what} {role!r} (known: {', '.join(table)})")
    return table[role]


def check_experiment_name(name: str, what: str = "EXP_NUM", plain: bool = True) -> str:
    """Return ``name`` if it is a safe single folder name, else raise :class:`UsageError`.

    Refused: empty, ``.``/``..`` or any ``..``, a path separator, control characters, a leading
    ``-`` (it would read as an option), and names longer than 200 characters; with ``plain`` (every
    name a user types: EXP_NUM, a sweep and its cells) also any character other than ASCII letters,
    digits, ``-``, ``_`` and ``.`` (a space, ``$``, quotes, ...)."""
    problem = None
    if not name:
        problem = "is empty"
    elif "/" in name or "\\" in name or os.sep in name:
        problem = "contains a path separator"
    elif ".." in name or name == ".":
        problem = "contains '..' or is '.'"
    elif any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        problem = "contains a control character"
    elif plain and not _PLAIN_NAME.fullmatch(name):
        bad = "".join(dict.fromkeys(ch for ch in name if not _PLAIN_NAME.fullmatch(ch)))
        problem = f"contains {bad!r} (only ASCII letters, digits, -, _ and . are allowed)"
    elif name.startswith("-"):
        problem = "starts with '-'"
    elif len(name) > 200:
        problem = "is longer than 200 characters"
    if problem:
        raise UsageError(f"{what}={name!r} {problem}; use a plain folder name such as exp1 (letters, digits, -, _, .)")
    return name


@dataclass(frozen=True)
class RunLayout:
    """Paths of one experiment folder (``root`` = ``RUNS_DIR/EXP_NUM``)."""

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root))

    @classmethod
    def of(cls, runs_dir: str | os.PathLike, exp: str) -> RunLayout:
        """The layout of experiment ``exp`` under ``runs_dir`` (the name is checked)."""
        check_experiment_name(exp)
        return cls(Path(os.path.abspath(runs_dir)) / exp)

    # ------------------------------------------------------------------ run level
    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def manifest_lock(self) -> Path:
        return self.root / f".{MANIFEST}.lock"

    @property
    def run_lock(self) -> Path:
        return self.root / ".run.lock"

    @property
    def accuracy(self) -> Path:
        return self.root / "accuracy.json"

    @property
    def plan(self) -> Path:
        """What the run would do (``PLAN=1``, :mod:`selfimprove.stages.plan`)."""
        return self.root / "plan.json"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def questions(self, split: str) -> Path:
        if split not in SPLITS:
            raise UsageError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
        return self.data_dir / f"{split}.jsonl"

    # ------------------------------------------------------------------ iterations
    def iter_dir(self, k: int) -> Path:
        if k < 0:
            raise UsageError(f"iteration must be >= 0 (got {k})")
        return self.root / f"iter_{k}"

    def iter_file(self, role: str, k: int) -> Path:
        if role not in ITER_FILES:
            raise UsageError(f"unknown iteration file {role!r} (known: {', '.join(ITER_FILES)})")
        name = ITER0_SFT if role == "sft" and k == 0 else ITER_FILES[role]
        return self.iter_dir(k) / name

    def samples(self, k: int) -> Path:
        return self.iter_file("samples", k)

    def critiques(self, k: int) -> Path:
        return self.iter_file("critiques", k)

    def refinements(self, k: int) -> Path:
        return self.iter_file("refinements", k)

    def sft(self, k: int) -> Path:
        return self.iter_file("sft", k)

    def critic_data(self, k: int) -> Path:
        return self.iter_file("critic_data", k)

    def dataset_info(self, k: int) -> Path:
        return self.iter_file("dataset_info", k)

    def train_yaml(self, k: int) -> Path:
        return self.iter_file("train_yaml", k)

    def train_log(self, k: int) -> Path:
        return self.iter_file("train_log", k)

    def actor(self, k: int) -> Path:
        return self.iter_file("actor", k)

    def actor_partial(self, k: int) -> Path:
        return self.iter_file("actor_partial", k)

    def iterations(self) -> list[int]:
        """The iterations that have a folder, in order."""
        ks = []
        for p in self.root.glob("iter_*"):
            tail = p.name[len("iter_") :]
            if p.is_dir() and tail.isdigit():
                ks.append(int(tail))
        return sorted(ks)

    # ------------------------------------------------------------------ step names
    @staticmethod
    def step(role: str, k: int) -> str:
        """The manifest name of an iteration step, e.g. ``step("samples", 1) == "iter_1/01_samples"``."""
        if role not in ITER_STEPS:
            raise UsageError(f"unknown step {role!r} (known: {', '.join(ITER_STEPS)})")
        name = "sft" if role == "sft" and k == 0 else ITER_STEPS[role]
        return f"iter_{k}/{name}"

    @staticmethod
    def data_step(split: str) -> str:
        return f"data/{split}"

    @staticmethod
    def eval_step(label: str) -> str:
        return f"eval/{label}"

    @staticmethod
    def critic_step(name: str) -> str:
        return f"critic/{name}"

    @staticmethod
    def pipeline_step(driver: str, role: str) -> str:
        """The step name of one role of the critic or one-player pipeline (see :meth:`pipeline`)."""
        table = {"critic": CRITIC_FILES, "selftalk": SELFTALK_FILES}.get(driver, {})
        step = table.get(role, ("", None))[1]
        if step is None:
            raise UsageError(f"the {driver} pipeline has no step {role!r}")
        return f"critic/{step}" if driver == "critic" else step

    # ------------------------------------------------------------------ evaluation
    @property
    def eval_root(self) -> Path:
        return self.root / "eval"

    def eval_dir(self, label: str) -> Path:
        check_experiment_name(label, "evaluation label", plain=False)  # a model folder's own name
        return self.eval_root / label

    def eval_file(self, label: str, role: str) -> Path:
        if role not in EVAL_FILES:
            raise UsageError(f"unknown evaluation file {role!r} (known: {', '.join(EVAL_FILES)})")
        return self.eval_dir(label) / EVAL_FILES[role]

    @staticmethod
    def chain_files(eval_dir: str | os.PathLike, mode: str, rounds: int, multi: bool = False) -> dict[str, Path]:
        """Sequential critique-refine files of one mode inside an actor's evaluation folder
        (``multi``: K > 1 chains per question, ``chains_<mode>...``)."""
        d, tag = Path(eval_dir), f"chains_{mode}" if multi else f"chain_{mode}"
        files = {"chain": d / f"{tag}.jsonl", "critiques": d / f"{tag}_critiques.jsonl"}
        files.update({f"round{r}": d / f"{tag}_round{r}.jsonl" for r in range(1, rounds + 1)})
        return files

    @property
    def report(self) -> Path:
        return self.eval_root / "report.md"

    # ------------------------------------------------------------------ critic pipeline
    @property
    def critic_root(self) -> Path:
        return self.root / "critic"

    def critic_file(self, name: str) -> Path:
        check_experiment_name(name, "critic file name")
        return self.critic_root / name

    @property
    def critic_eval_dir(self) -> Path:
        return self.critic_root / CRITIC_FILES["eval"][0]

    @staticmethod
    def critic_eval_file(eval_dir: str | os.PathLike, role: str, critic: str | None = None) -> Path:
        """A file of a critic evaluation (``CRITIC_EVAL_FILES``), or with ``critic`` one of that
        compared critic's files (``CRITIC_EVAL_CRITIC_FILES``, in its own folder)."""
        if critic is None:
            return Path(eval_dir) / _named(CRITIC_EVAL_FILES, role, "critic evaluation file")
        return Path(eval_dir) / critic / _named(CRITIC_EVAL_CRITIC_FILES, role, "file of a compared critic")

    @staticmethod
    def critic_curve_file(out_dir: str | os.PathLike, role: str) -> Path:
        return Path(out_dir) / _named(CRITIC_CURVE_FILES, role, "critic curve file")

    # ------------------------------------------------------------------ one-player table
    @staticmethod
    def onep_file(row_dir: str | os.PathLike, role: str, tag: str = "") -> Path:
        """A file of one row of the one-player table (``ONEP_FILES``); ``tag`` names the answers
        that critiques, refinements, checks and corrections are about (e.g. ``pool``)."""
        name = _named(ONEP_FILES, role, "one-player row file")
        if "{tag}" in name and not tag:
            raise UsageError(f"the one-player row file {role!r} needs a tag")
        return Path(row_dir) / name.format(tag=tag)

    @staticmethod
    def onep_table_file(table_dir: str | os.PathLike, role: str) -> Path:
        return Path(table_dir) / _named(ONEP_TABLE_FILES, role, "one-player table file")

    # ------------------------------------------------------------------ analyses of several files
    @staticmethod
    def exploration_file(out_dir: str | os.PathLike, role: str, prefix: str = "") -> Path:
        """A file of the exploration analysis (``EXPLORATION_FILES``); plots take ``prefix``."""
        name = _named(EXPLORATION_FILES, role, "exploration file")
        return Path(out_dir) / (name if role == "analysis" else prefix + name)

    @staticmethod
    def comparison_file(out_dir: str | os.PathLike, role: str) -> Path:
        return Path(out_dir) / _named(COMPARISON_FILES, role, "comparison file")

    # ------------------------------------------------------------------ shards and sweeps
    @staticmethod
    def shard_dir(out: str | os.PathLike) -> Path:
        """The folder of a generating step's shards, beside its output (``01_samples.shards``)."""
        p = Path(out)
        return p.with_name(p.name.split(".", 1)[0] + ".shards")

    @staticmethod
    def shard_file(out: str | os.PathLike, label: str, role: str) -> Path:
        """A file of the shard ``label`` (``<i>-of-<n>``) of the output ``out`` (``SHARD_FILES``)."""
        suffix = "".join(Path(out).suffixes) or ".jsonl"
        name = _named(SHARD_FILES, role, "shard file").format(label=label, suffix=suffix)
        return RunLayout.shard_dir(out) / name

    @staticmethod
    def sweep_state(sweep_dir: str | os.PathLike) -> Path:
        return Path(sweep_dir) / SWEEP_STATE

    # ------------------------------------------------------------------ driver pipelines
    def pipeline(self, driver: str) -> tuple[dict[str, Path], dict[str, str]]:
        """``({role: path}, {role: step name})`` of the critic (``critic``) or one-player
        (``selftalk``) driver."""
        if driver == "critic":
            table, base, prefix = CRITIC_FILES, self.critic_root, "critic/"
            paths, steps = {}, {}
        elif driver == "selftalk":
            table, base, prefix = SELFTALK_FILES, self.root, ""
            paths = {f"{split}_questions": self.questions(split) for split in SPLITS}
            paths["sft_actor"] = self.actor(0)
            steps = {f"{split}_questions": self.data_step(split) for split in SPLITS}
        else:
            raise UsageError(f"no pipeline layout for driver {driver!r}")
        for role, (rel, step) in table.items():
            paths[role] = base / rel
            if step is not None:
                steps[role] = prefix + step
        return paths, steps
