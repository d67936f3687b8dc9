"""Command-line plumbing shared by the stages: knob-backed options, logging, and the one error exit.

* :func:`parser` builds an :class:`ArgumentParser` whose errors are :class:`UsageError` (one
  line, exit 2) and whose *knob options* take their default from the configuration loader
  (defaults -> PRESET -> environment, :mod:`selfimprove.core.config`) after parsing: no
  environment variable is read inside an argparse default, and a value from the command line is
  checked by the same rules as the knob.
* :func:`run` is the only place that turns errors into exit codes and sets up ``logging``
  (level: the ``LOG_LEVEL`` knob). Stages log messages; tqdm keeps drawing progress bars.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import logging
import os
import re
import signal
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from selfimprove.core import config as C
from selfimprove.core import parsing, stop
from selfimprove.core.errors import MathCritiqueError, UsageError
from selfimprove.core.knob import MAX_ITEMS, MAX_PER_ITEM, MAX_TOKENS, at_least, in_range
from selfimprove.core.layout import RunLayout

GRADER_CHOICES = C.GRADERS
log = logging.getLogger("selfimprove")


class ArgumentParser(parsing.ArgumentParser):
    """argparse with one-line :class:`UsageError` errors and options backed by knobs."""

    def __init__(self, *a: Any, scope: str = C.STAGE, **kw: Any):
        super().__init__(*a, **kw)
        self.scope = scope
        self.knob_options: dict[str, str] = {}  # dest -> Config attribute
        self.knob_flags: dict[str, str] = {}  # knob name -> its option, for error messages

    def add_knob(self, group: Any, flag: str, attr: str, help: str = "", **kw: Any) -> None:  # noqa: A002
        """An option whose default is the knob ``attr`` (parsed and checked like the knob)."""
        k = C.knobs()[attr]
        dest = kw.pop("dest", flag.lstrip("-").replace("-", "_"))
        text = f"{help or k.meaning} (default: knob {k.env}, {_show_default(k, self.scope)})"
        (group or self).add_argument(flag, dest=dest, default=None, help=text, **kw)
        self.knob_options[dest] = attr
        self.knob_flags[k.env] = flag

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        ns = super().parse_args(args, namespace)
        if self.knob_options:
            overrides = {a: getattr(ns, d) for d, a in self.knob_options.items() if getattr(ns, d) is not None}
            try:
                cfg = C.load(self.scope, overrides=overrides, check=set(self.knob_options.values()))
            except UsageError as e:  # name the option that was given, not the knob behind it
                msg = str(e)
                for env, flag in self.knob_flags.items():
                    msg = re.sub(rf"\b{re.escape(env)}=(.*?) \(command line\)", rf"{flag}=\1", msg)
                raise UsageError(msg) from None
            for d, a in self.knob_options.items():
                setattr(ns, d, getattr(cfg, a))
        for name, rule in _FIXED_RULES.items():
            value = getattr(ns, name, None)
            if name not in self.knob_options and value is not None and rule(value):
                raise UsageError(f"--{name.replace('_', '-')}={value}: {rule(value)}")
        return ns


_FIXED_RULES: dict[str, Callable[[Any], str | None]] = {
    "n": at_least(1, MAX_PER_ITEM, "completions per item"),
    "temperature": at_least(0),
    "top_p": in_range(0, 1),
    "max_tokens": at_least(1, MAX_TOKENS, "tokens"),
    "max_model_len": at_least(1, MAX_TOKENS, "tokens"),
    "chunk_size": at_least(1, MAX_ITEMS, "items"),
    "grade_workers": at_least(0, MAX_PER_ITEM, "processes"),
}


def _show_default(k: C.Knob, scope: str) -> str:
    if k.derive is not None and k.default is None:
        return "derived"
    return repr(k.per_scope.get(scope, k.default))


def parser(prog: str, description: str | None, scope: str = C.STAGE) -> ArgumentParser:
    return ArgumentParser(
        prog=f"python -m selfimprove {prog}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        scope=scope,
    )


def add_run_args(ap: argparse.ArgumentParser, step: str | None = None, iteration: bool = False) -> None:
    """``--run-dir``, ``--step``, ``--seed`` (knob SEED) and, with ``iteration``, ``--iter``."""
    g = ap.add_argument_group("run")
    g.add_argument(
        "--run-dir", default=None, help="experiment folder holding manifest.json (timings, counts, skip-when-done)"
    )
    if iteration:
        g.add_argument("--iter", type=int, default=None, help="iteration k: file paths default to the run's layout")
    g.add_argument("--step", default=step, help="step name recorded in the manifest, e.g. iter_1/01_samples")
    _knob_or_fixed(ap, g, "--seed", "seed", None, type_=int, help="sampling seed")


def add_generation_args(
    ap: argparse.ArgumentParser,
    temperature: float | None = None,
    max_tokens: int | None = None,
    n: int | None = None,
    *,
    knobs: Mapping[str, str] | None = None,
) -> None:
    """Generation options. ``knobs`` maps an option (``n``, ``temperature``, ``top_p``,
    ``max_tokens``) to the knob that gives its default, e.g. ``{"n": "sample_num"}``; a number
    passed instead is a fixed default. Unset: ``n`` is 1, the others follow their own knobs."""
    bound = {"temperature": "temperature", "top_p": "top_p", "max_tokens": "max_tokens", **(knobs or {})}
    fixed = {"n": 1 if n is None else n, "temperature": temperature, "max_tokens": max_tokens}
    for name, value in fixed.items():
        if value is not None and name not in (knobs or {}):
            bound.pop(name, None)
    g = ap.add_argument_group("generation")
    _knob_or_fixed(ap, g, "--n", bound.get("n"), fixed["n"], int, "completions per item")
    _knob_or_fixed(
        ap, g, "--temperature", bound.get("temperature"), fixed["temperature"], float, "sampling temperature"
    )
    _knob_or_fixed(ap, g, "--top-p", bound.get("top_p"), 1.0, float, "nucleus sampling")
    _knob_or_fixed(
        ap, g, "--max-tokens", bound.get("max_tokens"), fixed["max_tokens"], int, "new tokens per completion"
    )
    _knob_or_fixed(ap, g, "--max-model-len", "max_model_len", None, int, "context length the engine reserves")
    _knob_or_fixed(ap, g, "--gpu-memory-utilization", "gpu_memory_utilization", None, float, "")
    _knob_or_fixed(ap, g, "--chunk-size", "chunk_size", None, int, "items generated between two checkpoint appends")
    _knob_or_fixed(ap, g, "--grader", "grader", None, str, "answer grader (see selfimprove/grading/api.py)")
    g.add_argument("--grade-workers", type=int, default=None, help="grading worker processes")


def _knob_or_fixed(ap, group, flag: str, attr: str | None, fixed: Any, type_: Any = str, help: str = "") -> None:  # noqa: A002
    if attr is not None and isinstance(ap, ArgumentParser):
        ap.add_knob(group, flag, attr, help=help)
    else:
        group.add_argument(flag, type=type_, default=fixed, help=f"{help} (default: {fixed})")


def positive(ap: argparse.ArgumentParser, args: argparse.Namespace, *names: str) -> None:
    for name in names:
        v = getattr(args, name)
        if v is None or v <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive (got {v})")


_Config = TypeVar("_Config")


def config_from(cls: type[_Config], args: argparse.Namespace, **given: Any) -> _Config:
    """A config dataclass from the options of the same names; ``given`` sets (or converts) the
    fields whose value is not the option as parsed (``out_dir=Path(args.out_dir)``)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    options = {k: v for k, v in vars(args).items() if k in names and k not in given}
    return cls(**options, **given)


def layout_paths(args: argparse.Namespace, **roles: Callable[[RunLayout, int], Path]) -> None:
    """Fill every path option in ``roles`` that was not given from the run's layout
    (``--run-dir`` and ``--iter``), e.g. ``layout_paths(args, out=lambda lay, k: lay.samples(k))``."""
    missing = [dest for dest in roles if getattr(args, dest, None) is None]
    if not missing:
        return
    if args.run_dir is None or getattr(args, "iter", None) is None:
        flags = ", ".join(f"--{d.replace('_', '-')}" for d in missing)
        raise UsageError(f"give {flags}, or --run-dir and --iter to use the run's layout")
    lay = RunLayout(args.run_dir)
    for dest in missing:
        setattr(args, dest, str(roles[dest](lay, args.iter)))


# ---------------------------------------------------------------------- logging and exits
class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.exc_info and record.levelno >= logging.ERROR:
            msg += "\n" + self.formatException(record.exc_info)
        return msg if record.levelno == logging.INFO else f"{record.levelname.lower()}: {msg}"


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (it may be replaced, e.g. by pytest)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def setup_logging(level: str | None = None) -> None:
    """Messages of the package go to stderr at ``level`` (default: the ``LOG_LEVEL`` knob)."""
    root = logging.getLogger("selfimprove")
    if not any(isinstance(h.formatter, _Format) for h in root.handlers):
        handler = _Stderr()
        handler.setFormatter(_Format())
        root.addHandler(handler)  # records still propagate (to pytest's capture, for one)
    if level is None:
        try:
            level = C.load(check={"log_level"}).log_level
        except UsageError:
            level = "INFO"
    root.setLevel(level)


#: what a full or unwritable disk raises while a stage writes; reported in one line, exit 1
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO}


def disk_error_line(e: OSError) -> str:
    """One line for a write that the disk refused: the path, the reason, what to do."""
    path = e.filename or "a file of the run"
    what = f"{path}: cannot write: {e.strerror or e} (errno {e.errno})"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{what}; free space on that disk and rerun the same command: it continues where it stopped"
    return f"{what}; make it writable and rerun the same command: it continues where it stopped"


def _close_progress_bars() -> None:
    """End the progress bars a stage left open, so that its last line starts a line of its own."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", None) or []):
        try:
            bar.close()
        except Exception:  # a bar is cosmetic
            pass


def run(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> None:
    """Run a command's ``main``: errors of the package end with one ``error:`` line and their
    exit code (:mod:`selfimprove.core.errors`); a disk that is full or refuses a write is one line
    naming the path (exit 1); SIGTERM, SIGINT and SIGHUP stop it between two whole records, end
    the processes it started and say where it stopped (exit 128 + the signal; :mod:`.stop`)."""
    setup_logging()
    previous: dict = {}
    try:
        previous = stop.install()
        code = _outcome(main, argv)
        stop.uninstall(previous)
    except (stop.Interrupted, KeyboardInterrupt) as e:  # the one stop signal, as main's outcome was reported
        code = _stopped(e)
        stop.uninstall(previous)
    sys.exit(code or 0)


def _outcome(main: Callable[[list[str] | None], int], argv: list[str] | None) -> int:
    """``main``'s exit code, or the one of the error or the signal that ended it (reported)."""
    try:
        C.load(check={"log_level"})  # a bad LOG_LEVEL is reported like any other knob
        return main(argv)
    except MathCritiqueError as e:
        stop.ending()
        _close_progress_bars()
        log.error("%s", str(e).replace("\n", " "))
        return e.exit_code
    except (stop.Interrupted, KeyboardInterrupt) as e:
        return _stopped(e)
    except BrokenPipeError:  # whoever read our output is gone (a driver killed meanwhile): nothing to say
        stop.ending()
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:
        if e.errno not in DISK_ERRNOS:
            raise
        stop.ending()
        log.debug("the write that failed:\n%s", traceback.format_exc())
        _close_progress_bars()
        log.error("%s", disk_error_line(e))
        return 1


def _stopped(e: BaseException) -> int:
    """A stop signal ended the command: end what it started, say where it stopped; its exit code.
    (Only one signal is ever raised in a process, so nothing here is cut short by another.)"""
    signum = e.signum if isinstance(e, stop.Interrupted) else signal.SIGINT
    stop.shut_down_children()
    _close_progress_bars()
    log.error("%s", stop.message(signum))
    return 128 + signum


def engine_kwargs(args: argparse.Namespace, role: str) -> dict:
    """``make_engine``'s keywords for one model role, from the options of ``add_engine_args``.

    ``--<role>-engine`` and ``--<role>-tp`` left out take the knobs ENGINE and TP_SIZE, read here
    (when an engine is about to be built); the engine ``ray`` also takes RAY_ADDRESS, RAY_REPLICAS
    and RAY_ENGINE."""
    get = lambda k: getattr(args, f"{role}_{k}")  # noqa: E731
    engine, tp = get("engine"), get("tp")
    if engine is None or tp is None:
        knobs = C.load(check={"engine", "tp_size"})
        engine = knobs.engine if engine is None else engine
        tp = knobs.tp_size if tp is None else tp
    kw = dict(
        model=get("model"),
        engine=engine,
        model_type=get("type"),
        tp=tp,
        dp=get("dp"),
        base_url=get("base_url"),
        api_key_env=get("api_key_env"),
        max_model_len=getattr(args, "max_model_len", 4096),
        gpu_memory_utilization=getattr(args, "gpu_memory_utilization", 0.9),
        seed=getattr(args, "seed", 0),
        mode=getattr(args, f"{role}_api_mode", None),
    )
    if engine == "ray":
        ray = C.load(check={"ray_address", "ray_replicas", "ray_engine"})
        kw.update(ray_address=ray.ray_address, ray_replicas=ray.ray_replicas, ray_engine=ray.ray_engine)
    return kw
