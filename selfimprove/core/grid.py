"""Sweeps over knob grids: a sweep preset -> cells, each one run of the drivers with its own knobs.

A *sweep preset* (``selfimprove/presets/fig6.env``, ...) is ``KEY=VALUE`` lines like a driver
preset (shell quoting, ``#`` comments), with a few keys of its own::

    SWEEP_DRIVERS="inference evaluate"    drivers run for every cell, in order (selfimprove/<name>-all.sh)
    GRID="USE_CRITIC=0,1 sample_num=1,3"  axes; every combination is a cell (the last axis varies fastest)
    GRID="method=sft,critique"            an axis that is not a knob names *cases*, each defined by
    method[sft]="ITER_NUM=0 EVAL_ITERS=0" one line of KEY=VALUE items (SWEEP_DRIVERS and driver.KNOB too)
    ITER_NUM=3                            a knob for every driver of every cell
    evaluate.sample_num=4                 a knob for one driver only
    [tiny]  /  [paper]                    the lines after it apply at that SCALE only

Lines outside a section come first, then the chosen scale's lines; a later line wins. For one
driver of one cell the knobs are, later winning: the preset's lines -> the caller's environment
(where it sets one of those knobs) -> the cell's grid values and case items -> the preset's
lines for that driver -> the case's items for that driver. A value may name ``{run}`` (the
cell's run folder), ``{cell}`` (its name) or ``{KNOB}`` (that knob's value for the driver, else
the environment's, else its default). When both ``inference`` and ``evaluate`` run, the first
gets ``EVALUATE=0``: the evaluation runs once, with its own knobs.

A cell is named ``<sweep>_<axis>-<value>_...`` (a safe ``EXP_NUM``) and runs in
``RUNS_DIR/<sweep>/<cell>/``.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from selfimprove.core import config as C
from selfimprove.core.errors import UsageError
from selfimprove.core.layout import check_experiment_name

SCALES = ("tiny", "paper")
DRIVERS = ("inference", "evaluate", "selftalk", "critic")
DRIVER_DIR = C.ROOT / "selfimprove"
SWEEP_KEYS = ("SWEEP_DRIVERS", "SWEEP_NAME", "GRID")
_KEY = re.compile(r"^(?:(?P<driver>[a-z]+)\.)?(?P<name>[A-Za-z_]\w*)$")
_CASE = re.compile(r"^(?P<axis>[A-Za-z_]\w*)\[(?P<level>[A-Za-z0-9_.+-]+)\]$")
_SECTION = re.compile(r"^\[(?P<name>[^\]]*)\]$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")
_DEFAULTED = re.compile(r'^:\s*"\$\{(\w+)[:=-]', re.M)  # : "${KNOB:=default}"
_LISTED = re.compile(r"^#\s{2,}([A-Za-z_]\w*)\s{2,}\S", re.M)  # #   KNOB     meaning (after "# --- knobs")
_KNOB_LIST = re.compile(r"^#\s*-+\s*knobs\s*$", re.M)
_LABEL_MAX = 40


def driver_script(name: str, driver_dir: Path = DRIVER_DIR) -> Path:
    return driver_dir / f"{name}-all.sh"


def known_knobs(drivers: tuple[str, ...] = DRIVERS, driver_dir: Path = DRIVER_DIR) -> set[str]:
    """The configuration's knobs and those a driver script declares (``: "${X:=...}"`` lines, or
    ``#   X   meaning`` lines after its ``# --- knobs`` line), plus ``PRESET``."""
    names = {k.env for k in C.knobs().values()} | {"PRESET"}
    for d in drivers:
        script = driver_script(d, driver_dir)
        if script.is_file():
            text = script.read_text(encoding="utf-8")
            names |= set(_DEFAULTED.findall(text))
            marker = _KNOB_LIST.search(text)
            if marker:
                names |= set(_LISTED.findall(text, marker.end()))
    return names


@dataclass
class Level:
    """One value of an axis: its label in cell names and what it sets."""

    label: str
    knobs: dict[str, str] = field(default_factory=dict)
    scoped: dict[str, dict[str, str]] = field(default_factory=dict)  # driver -> knobs
    drivers: tuple[str, ...] | None = None


@dataclass
class Sweep:
    name: str
    scale: str
    preset: str
    drivers: tuple[str, ...]
    axes: list[tuple[str, list[Level]]]
    knobs: dict[str, str]
    scoped: dict[str, dict[str, str]]


@dataclass
class Cell:
    name: str
    values: dict[str, str]  # axis -> label
    drivers: tuple[str, ...]
    knobs: dict[str, dict[str, str]]  # driver -> the knobs the sweep sets for it


def _split(raw: str, where: str) -> list[str]:
    try:
        return shlex.split(raw, comments=True)
    except ValueError as e:
        raise UsageError(f"{where}: {e}") from None


def _drivers(value: str, where: str) -> tuple[str, ...]:
    names = tuple(value.split())
    bad = [d for d in names if d not in DRIVERS]
    if bad or not names:
        raise UsageError(f"{where}: SWEEP_DRIVERS={value!r}: expected some of {', '.join(DRIVERS)}")
    return names


def _assign(key: str, value: str, where: str, known: set[str], knobs: dict, scoped: dict) -> None:
    m = _KEY.match(key)
    if not m or (m["driver"] and m["driver"] not in DRIVERS):
        raise UsageError(f"{where}: {key!r} is not KNOB or DRIVER.KNOB (drivers: {', '.join(DRIVERS)})")
    if m["name"] not in known:
        raise UsageError(f"{where}: unknown knob {m['name']} (see python -m selfimprove config knobs inference)")
    (scoped.setdefault(m["driver"], {}) if m["driver"] else knobs)[m["name"]] = value


def _case(label: str, value: str, where: str, known: set[str]) -> Level:
    level = Level(label)
    for item in _split(value, where):
        key, sep, v = item.partition("=")
        if not sep:
            raise UsageError(f"{where}: case item {item!r} is not KEY=VALUE")
        if key == "SWEEP_DRIVERS":
            level.drivers = _drivers(v, where)
        else:
            _assign(key, v, where, known, level.knobs, level.scoped)
    return level


def label(value: str) -> str:
    """A cell-name-safe form of a grid value: letters, digits, ``.``, ``-`` (a cell name is an EXP_NUM)."""
    text = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9.-]+", "-", value)).strip("-.")
    return text[:_LABEL_MAX].rstrip("-.") or "x"


def read_sweep(path: str | Path, scale: str, known: set[str] | None = None, name: str | None = None) -> Sweep:
    """Parse a sweep preset at one scale (raises :class:`UsageError` naming ``file:line``)."""
    if scale not in SCALES:
        raise UsageError(f"SCALE={scale!r}: expected one of {', '.join(SCALES)}")
    path = Path(path)
    known = known_knobs() if known is None else known
    common: list[tuple[str, str, str]] = []
    sections: dict[str, list[tuple[str, str, str]]] = {}
    current: list[tuple[str, str, str]] = common
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text, where = line.strip(), f"{path}:{i}"
        if not text or text.startswith("#"):
            continue
        section = _SECTION.match(text)
        if section:
            if section["name"] not in SCALES:
                raise UsageError(f"{where}: unknown section {text} (expected [tiny] or [paper])")
            current = sections.setdefault(section["name"], [])
            continue
        key, sep, raw = text.partition("=")
        if not sep:
            raise UsageError(f"{where}: expected KEY=VALUE, got {text!r}")
        current.append((key.strip().removeprefix("export ").strip(), " ".join(_split(raw, where)), where))
    if sections and scale not in sections:
        raise UsageError(f"{path}: no [{scale}] section (it has {', '.join(f'[{s}]' for s in sections)})")
    special: dict[str, tuple[str, str]] = {}
    knobs: dict[str, str] = {}
    scoped: dict[str, dict[str, str]] = {}
    cases: dict[str, dict[str, Level]] = {}
    for key, value, where in common + sections.get(scale, []):
        case = _CASE.match(key)
        if key in SWEEP_KEYS:
            special[key] = (value, where)
        elif case:
            cases.setdefault(case["axis"], {})[case["level"]] = _case(case["level"], value, where, known)
        else:
            _assign(key, value, where, known, knobs, scoped)
    drivers_text, where = special.get("SWEEP_DRIVERS", ("inference", str(path)))
    grid_text, grid_where = special.get("GRID", ("", str(path)))
    sweep_name = name or special.get("SWEEP_NAME", (path.stem, ""))[0]
    check_experiment_name(sweep_name, "SWEEP_NAME")
    return Sweep(
        sweep_name,
        scale,
        str(path),
        _drivers(drivers_text, where),
        _axes(grid_text, grid_where, cases, known),
        knobs,
        scoped,
    )


def _axes(text: str, where: str, cases: dict[str, dict[str, Level]], known: set[str]) -> list[tuple[str, list[Level]]]:
    axes: list[tuple[str, list[Level]]] = []
    for token in text.split():
        axis, sep, values = token.partition("=")
        items = [v for v in values.split(",") if v]
        if not sep or not _KEY.match(axis) or not items:
            raise UsageError(f"{where}: GRID item {token!r} is not AXIS=VALUE,VALUE,...")
        if axis in (a for a, _ in axes):
            raise UsageError(f"{where}: GRID names the axis {axis} twice")
        if axis in cases:
            missing = [v for v in items if v not in cases[axis]]
            if missing:
                raise UsageError(f"{where}: GRID axis {axis}: no {axis}[{missing[0]}]=... line defines {missing[0]!r}")
            levels = [cases[axis][v] for v in items]
        elif axis in known:
            levels = [Level(label(v), {axis: v}) for v in items]
        else:
            raise UsageError(f"{where}: GRID axis {axis} is neither a knob nor defined by {axis}[VALUE]=... lines")
        labels = [lv.label for lv in levels]
        if len(set(labels)) != len(labels):
            raise UsageError(f"{where}: GRID axis {axis}: two values share a name in cell names ({', '.join(labels)})")
        axes.append((axis, levels))
    return axes


def cell_name(sweep: str, values: Mapping[str, str]) -> str:
    name = "_".join([sweep, *(f"{a}-{v}" for a, v in values.items())])
    return check_experiment_name(name, "cell name")


def _fill(value: str, own: Mapping[str, str], fixed: Mapping[str, str], env: Mapping[str, str], where: str) -> str:
    defaults = {k.env: k.default for k in C.knobs().values() if k.default is not None}

    def one(m: re.Match) -> str:
        key = m.group(1)
        for source in (fixed, own, env, defaults):
            if key in source and not _PLACEHOLDER.search(str(source[key])):  # a value still to fill is skipped
                return str(source[key])
        raise UsageError(f"{where}: {{{key}}} names no knob that is set (nor has a default)")

    return _PLACEHOLDER.sub(one, value)


def expand(sweep: Sweep, sweep_dir: str | Path, env: Mapping[str, str]) -> list[Cell]:
    """Every cell of the grid with each driver's knobs (placeholders filled in)."""
    cells = []
    for combo in itertools.product(*(levels for _, levels in sweep.axes)):
        values = {axis: lv.label for (axis, _), lv in zip(sweep.axes, combo)}
        name = cell_name(sweep.name, values)
        chosen = {lv.drivers for lv in combo if lv.drivers is not None}
        if len(chosen) > 1:
            raise UsageError(
                f"cell {name}: its cases name different SWEEP_DRIVERS ({' / '.join(map(' '.join, chosen))})"
            )
        drivers = chosen.pop() if chosen else sweep.drivers
        fixed = {"run": str(Path(sweep_dir) / name), "cell": name}
        per_driver: dict[str, dict[str, str]] = {}
        for d in drivers:
            knobs = {k: env.get(k, v) for k, v in sweep.knobs.items()}
            for lv in combo:
                knobs.update(lv.knobs)
            knobs.update(sweep.scoped.get(d, {}))
            for lv in combo:
                knobs.update(lv.scoped.get(d, {}))
            if d == "inference" and "evaluate" in drivers:
                knobs["EVALUATE"] = "0"
            knobs.update({"RUNS_DIR": str(sweep_dir), "EXP_NUM": name})
            where = f"cell {name}, driver {d}"
            per_driver[d] = {k: _fill(v, knobs, fixed, env, where) for k, v in knobs.items()}
        cells.append(Cell(name, values, drivers, per_driver))
    return cells
