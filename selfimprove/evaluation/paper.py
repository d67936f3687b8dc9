"""The paper's own numbers (``paper_reference.json``) and how a report finds the one for its setting.

The file holds every number of the paper's Tables 2 and 3 and Figs. 6, 7, 8, A-E that this
project transcribed, each with its **setting** and its **provenance**:

* the setting is a set of fields (:data:`SETTING_FIELDS`): the actor's model family and training
  method, N and iteration of self-improvement, the critic, the test-time method, dataset, split,
  metric, K, difficulty level; a number states only the fields the paper states;
* the provenance says which table or figure holds the number and how it was read
  (:data:`PROVENANCE`): printed in a table (``verbatim``), printed on a figure
  (``printed label``) or read from a plot's marker or bar (``plot reading``, about ±1 point).

Values are in points (percent, 0-100) as the paper prints them. In the file, numbers are grouped
by table or figure and provenance; a group's ``setting`` holds the fields its numbers share.

A report asks with everything it knows about one of its numbers (:meth:`PaperReference.lookup`);
a paper number matches when every field it states agrees: ``model`` and ``critic`` by model family
(:func:`same_family`: ``Llama-3-8B`` is ``meta-llama/Meta-Llama-3-8B`` and
``Meta-Llama-3-8B-Instruct``, not ``Llama-3.1-8B``), every other field by equality. A field the
paper does not state does not restrict the match; a field the paper states and the report does not
know prevents it.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfimprove.core.errors import DataError

REFERENCE_FILE = Path(__file__).with_name("paper_reference.json")
FORMAT_VERSION = 1

#: how a number was taken from the paper
PROVENANCE = {
    "verbatim": "printed in a table of the paper",
    "printed label": "printed on a figure of the paper (a data label)",
    "plot reading": "read from the position of a plot's marker or bar, about ±1 point",
}
FIGURES = ("Table 2", "Table 3", "Fig. 6", "Fig. 7", "Fig. 8", "Fig. A", "Fig. B", "Fig. C", "Fig. D", "Fig. E")

#: the fields of a setting, their type and (where the vocabulary is closed) their values
SETTING_FIELDS: dict[str, type] = {
    "model": str,
    "method": str,
    "N": int,
    "iteration": int,
    "critic": str,
    "critic_size": str,
    "test_time": str,
    "dataset": str,
    "split": str,
    "metric": str,
    "k": int,
    "level": int,
}
VANILLA, CRITIQUE = "vanilla", "critique-in-the-loop"
VOCABULARY: dict[str, frozenset[str]] = {
    # the actor's training; "A - B" is a difference between two methods
    "method": frozenset({"SFT", "self-correction FT", VANILLA, CRITIQUE, f"{CRITIQUE} - {VANILLA}"}),
    # how the answer is made at test time; "critique" = critique-refine with the critic (parallel for
    # Pass@K / MV@K), "critique, oracle" = only answers known to be wrong are refined
    "test_time": frozenset(
        {
            "response only",
            "critique",
            "critique, oracle",
            "sequential critique",
            "self-correction",
            "critique - response only",
        }
    ),
    "split": frozenset({"train", "test"}),
    # acc: one answer per question; pass_at_k / mv_at_k at K = k; mv_at_3k: MV@3K without critique at
    # budget K = k (compute-matched); final: the answer after k sequential rounds; kept_share: share of
    # the training data kept per level
    "metric": frozenset(
        {"acc", "pass_at_k", "mv_at_k", "mv_at_3k", "final", "discrimination", "helpfulness", "kept_share"}
    ),
}
REQUIRED_FIELDS = ("dataset", "metric")
FAMILY_FIELDS = ("model", "critic")

# a model name's last part may add these to its family: an organisation prefix, and variants
_FAMILY_PREFIX = r"(?:meta-)?"
_FAMILY_SUFFIX = r"(?:-(?:instruct|chat|hf|base|\d{4}(?:-\d{2}-\d{2})?))*"
_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)b(?![a-z0-9])")


@dataclass(frozen=True)
class PaperNumber:
    """One number of the paper: where it is, how it was read, the setting it belongs to, its value."""

    figure: str
    provenance: str
    setting: Mapping[str, Any]
    value: float  # points, as printed
    remark: str = ""

    def matches(self, query: Mapping[str, Any]) -> bool:
        """Every field this number states agrees with the query's (see the module docstring)."""
        for key, want in self.setting.items():
            have = query.get(key)
            if have is None:
                return False
            if key in FAMILY_FIELDS:
                if not same_family(want, str(have)):
                    return False
            elif have != want:
                return False
        return True


@dataclass(frozen=True)
class PaperReference:
    """The paper's numbers, as :func:`load` reads them."""

    paper: str
    unit: str
    numbers: tuple[PaperNumber, ...]
    notes: tuple[str, ...] = ()

    def matches(self, figures: str | Sequence[str] | None = None, **query: Any) -> list[PaperNumber]:
        """Every number matching ``query`` (from ``figures`` only, when given), the most specific first
        (the one stating most fields), ties in the order of ``figures``, then of the file."""
        order = [figures] if isinstance(figures, str) else list(figures or [])
        query = {k: v for k, v in query.items() if v is not None}
        found = [(i, n) for i, n in enumerate(self.numbers) if (not order or n.figure in order) and n.matches(query)]
        rank = {f: j for j, f in enumerate(order)}
        found.sort(key=lambda t: (-len(t[1].setting), rank.get(t[1].figure, 0), t[0]))
        return [n for _, n in found]

    def lookup(self, figures: str | Sequence[str] | None = None, **query: Any) -> PaperNumber | None:
        """The paper's number for this setting (the most specific match), or ``None``."""
        found = self.matches(figures, **query)
        return found[0] if found else None


# ---------------------------------------------------------------------------------------
# Matching helpers
# ---------------------------------------------------------------------------------------


def same_family(family: str, name: str) -> bool:
    """Whether the model (or critic) ``name`` -- a hub id, folder or API name -- is of ``family``:
    its last path part is the family, optionally with an organisation prefix (``Meta-``) and
    variant suffixes (``-Instruct``, ``-chat``, ``-hf``, ``-base``, a date), case-insensitive."""
    base = Path(name.rstrip("/")).name.lower()
    pattern = _FAMILY_PREFIX + re.escape(family.lower()) + _FAMILY_SUFFIX
    return re.fullmatch(pattern, base) is not None


def size_of(name: str | None) -> str | None:
    """The parameter count a model's name states (``Meta-Llama-3-8B-Instruct`` -> ``"8B"``)."""
    if not name:
        return None
    m = _SIZE.search(Path(name.rstrip("/")).name.lower())
    return f"{m.group(1)}B" if m else None


def critic_setting(critic: str | None) -> dict[str, str]:
    """The ``critic`` (and ``critic_size``) fields for a critic model as an evaluation records it.

    A critic trained by ``critic-all.sh`` (a run's ``critic/model`` folder) is the paper's
    ``critique model``; its size is that of the model it was fine-tuned from, as that run's manifest
    records it (``critic_base_model``, else ``model_name``). Any other critic is named as given.
    """
    if not critic:
        return {}
    path = Path(critic.rstrip("/"))
    if path.parts[-2:] != ("critic", "model"):
        return {"critic": critic}
    out = {"critic": "critique model"}
    manifest = path.parent.parent / "manifest.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else {}
    except (OSError, ValueError):
        data = {}
    configs = [v for k, v in data.items() if (k == "config" or k.endswith("_config")) and isinstance(v, dict)]
    base = next((c["critic_base_model"] for c in configs if c.get("critic_base_model")), None)
    base = base or next((c["model_name"] for c in configs if c.get("model_name")), None)
    size = size_of(base)
    if size:
        out["critic_size"] = size
    return out


def points(value: float) -> str:
    """A paper value as printed: ``54.81``, ``59.0``, ``-2.0``."""
    text = f"{value:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def compared(number: PaperNumber | None, ours: float | None) -> dict[str, Any] | None:
    """What a report stores beside one of its numbers (a fraction): the paper's value in points,
    where it is and how it was read, and ``difference`` = ours - paper in points (``None`` without
    ours)."""
    if number is None:
        return None
    diff = None if ours is None else round(100 * ours - number.value, 6)
    return {"value": number.value, "figure": number.figure, "provenance": number.provenance, "difference": diff}


# ---------------------------------------------------------------------------------------
# Reading the file
# ---------------------------------------------------------------------------------------


def _check_field(where: str, key: str, value: Any) -> None:
    kind = SETTING_FIELDS.get(key)
    if kind is None:
        raise DataError(f"{where}: unknown setting field {key!r} (known: {', '.join(SETTING_FIELDS)})")
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DataError(f"{where}: {key} must be a {kind.__name__}, not {value!r}")
    allowed = VOCABULARY.get(key)
    if allowed is not None and value not in allowed:
        raise DataError(f"{where}: {key} {value!r} is not one of {sorted(allowed)}")


def parse(data: Any, source: str = "paper reference") -> PaperReference:
    """Validate the file's content and return its numbers; raise :class:`DataError` naming the problem."""
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise DataError(f'{source}: expected an object with "format": {FORMAT_VERSION}')
    for key in ("paper", "unit"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise DataError(f"{source}: '{key}' must be a non-empty string")
    groups = data.get("groups")
    if not isinstance(groups, list):
        raise DataError(f"{source}: 'groups' must be a list")
    numbers: list[PaperNumber] = []
    seen: dict[tuple, str] = {}
    for gi, group in enumerate(groups):
        gwhere = f"{source}: groups[{gi}]"
        if not isinstance(group, dict):
            raise DataError(f"{gwhere}: must be an object")
        unknown = set(group) - {"figure", "provenance", "remark", "setting", "numbers"}
        if unknown:
            raise DataError(f"{gwhere}: unknown keys {sorted(unknown)}")
        figure, provenance = group.get("figure"), group.get("provenance")
        if figure not in FIGURES:
            raise DataError(f"{gwhere}: figure {figure!r} is not one of {list(FIGURES)}")
        if provenance not in PROVENANCE:
            raise DataError(f"{gwhere}: provenance {provenance!r} is not one of {list(PROVENANCE)}")
        remark = group.get("remark", "")
        if not isinstance(remark, str):
            raise DataError(f"{gwhere}: remark must be a string")
        common = group.get("setting", {})
        if not isinstance(common, dict):
            raise DataError(f"{gwhere}: setting must be an object")
        for key, value in common.items():
            _check_field(f"{gwhere}.setting", key, value)
        entries = group.get("numbers")
        if not isinstance(entries, list) or not entries:
            raise DataError(f"{gwhere}: 'numbers' must be a non-empty list")
        for ei, entry in enumerate(entries):
            where = f"{gwhere}.numbers[{ei}]"
            if not isinstance(entry, dict):
                raise DataError(f"{where}: must be an object")
            value = entry.get("value")
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise DataError(f"{where}: value must be a finite number (points)")
            own = {k: v for k, v in entry.items() if k != "value"}
            for key, v in own.items():
                _check_field(where, key, v)
                if key in common:
                    raise DataError(f"{where}: {key} is already in the group's setting")
            setting = {**common, **own}
            missing = [k for k in REQUIRED_FIELDS if k not in setting]
            if missing:
                raise DataError(f"{where}: the setting lacks {', '.join(missing)}")
            ident = (figure, tuple(sorted(setting.items())))
            if ident in seen:
                raise DataError(f"{where}: the same setting as {seen[ident]}")
            seen[ident] = where
            numbers.append(PaperNumber(figure, provenance, setting, float(value), remark))
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise DataError(f"{source}: 'notes' must be a list of strings")
    return PaperReference(data["paper"], data["unit"], tuple(numbers), tuple(notes))


def load(path: str | os.PathLike | None = None) -> PaperReference:
    """The paper's numbers from ``path`` (default: the shipped :data:`REFERENCE_FILE`)."""
    p = Path(path) if path else REFERENCE_FILE
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{p}: cannot read the paper's numbers ({e})") from None
    return parse(data, str(p))


def describe(setting: Mapping[str, Any], skip: Iterable[str] = ()) -> str:
    """A setting in words, for tables: ``"Llama-3-8B, critique-in-the-loop, N=5, iteration 2"``."""
    parts = []
    for key in SETTING_FIELDS:
        if key in skip or key not in setting:
            continue
        v = setting[key]
        parts.append(
            {
                "N": f"N={v}",
                "k": f"K={v}",
                "iteration": f"iteration {v}",
                "level": f"level {v}",
                "critic_size": f"critic size {v}",
            }.get(key, str(v))
        )
    return ", ".join(parts)
