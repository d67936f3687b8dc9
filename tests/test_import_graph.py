"""How the package's modules import each other.

* Layers: imports between subpackages point one way, as :data:`ALLOWED` says: core -> grading ->
  data, generation -> training, evaluation -> critic -> selftalk -> stages (a subpackage imports
  only those listed beside it; every import counts, at module level or inside a function). The
  evaluation computes numbers from records and imports nothing of generation; a stage (one
  command) imports no other stage.
* No import cycle at module level (imports inside functions are deliberate, lazy loads of heavy
  libraries, and do not count there).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "selfimprove"

#: subpackage -> the subpackages it may import (itself always; the package root may import anything)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "grading": {"core"},
    "data": {"core", "grading"},
    "generation": {"core", "grading"},
    "training": {"core", "grading", "data", "generation"},
    "evaluation": {"core", "grading", "data"},
    "critic": {"core", "grading", "data", "generation", "training", "evaluation"},
    "selftalk": {"core", "grading", "data", "generation", "training", "evaluation", "critic"},
    "stages": {"core", "grading", "data", "generation", "training", "evaluation", "critic", "selftalk"},
}


def module_graph() -> dict[str, set[str]]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        name = ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        mods[name] = p
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        for node in ast.parse(p.read_text(encoding="utf-8")).body:  # module level only
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # "from pkg import sub" imports the submodule sub (the package is already loading)
                subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in mods]
                targets = subs if len(subs) == len(node.names) else [node.module, *subs]
            else:
                continue
            graph[m].update(t for t in targets if t in mods and t != m)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(u: str) -> None:
        state[u] = "open"
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == "open":
                found.append(stack[stack.index(v) :] + [v])
            elif v not in state:
                visit(v)
        stack.pop()
        state[u] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_level_import_cycle():
    graph = module_graph()
    assert len(graph) > 100 and graph["selfimprove.core.config"] >= {"selfimprove.core.knob"}
    assert cycles(graph) == []


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def all_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import of the package in a file, anywhere in it (``from pkg
    import name`` gives ``pkg.name``: a submodule or a name of pkg; relative imports resolved)."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return [(line, m) for line, m in out if m.split(".")[0] == "selfimprove"]


def subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else None


def layer_violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = subpackage(module_name(path))
        if here is None:  # the package root: __init__.py, __main__.py
            continue
        for line, target in all_imports(path):
            there = subpackage(target)
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            if there is not None and there != here and there not in ALLOWED[here]:
                found.append(f"{where}: {here} imports {target} ({there})")
            if here == there == "stages" and module_name(path) != "selfimprove.stages":
                found.append(f"{where}: a stage imports another stage ({target})")
    return found


def test_every_subpackage_has_a_layer():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert subpackages == set(ALLOWED)
    assert all(
        ALLOWED[a] < ALLOWED[b] for a, b in [("core", "grading"), ("critic", "selftalk"), ("selftalk", "stages")]
    )


def test_the_checker_finds_a_wrong_way_import(tmp_path, monkeypatch):
    pkg = tmp_path / "selfimprove"
    for sub in ALLOWED:
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "core" / "x.py").write_text("def f():\n    from selfimprove.generation import tasks\n")
    (pkg / "stages" / "a.py").write_text("from selfimprove.stages import b\nfrom selfimprove.core import x\n")
    (pkg / "stages" / "b.py").write_text("")
    (pkg / "evaluation" / "y.py").write_text("from ..generation.tasks import sample_questions\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    assert layer_violations() == [
        "selfimprove/core/x.py:2: core imports selfimprove.generation.tasks (generation)",
        "selfimprove/evaluation/y.py:1: evaluation imports selfimprove.generation.tasks.sample_questions (generation)",
        "selfimprove/stages/a.py:1: a stage imports another stage (selfimprove.stages.b)",
    ]


def test_imports_point_one_way():
    assert layer_violations() == []
