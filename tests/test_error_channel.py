"""One error channel: library code raises errors of one hierarchy and logs; only commands print.

* Every exception class of the package derives from
  :class:`~selfimprove.core.errors.MathCritiqueError` (so :func:`selfimprove.core.cli.run` ends
  any of them with one ``error:`` line and its exit code), except the two ``BaseException``
  subclasses that must get past ``except Exception``; every class whose name ends in ``Error`` is
  such an exception.
* Only the commands (``selfimprove/stages/``, and the entry point that runs them) define
  ``main`` or call ``print``; library modules report through :mod:`logging`.

Both are read from the source (``ast``), so no module is imported and nothing heavy loads.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "selfimprove"
ROOT_OF_ALL = "MathCritiqueError"
#: stop signals and the grader worker's CPU alarm: BaseExceptions on purpose (``except Exception``
#: must not swallow them); never reported as an error of the package
OUTSIDE_ON_PURPOSE = {"Interrupted", "_OutOfBudget"}


def _base_name(node: ast.expr) -> str:
    return ast.unparse(node).rsplit(".", 1)[-1]


def classes() -> dict[str, tuple[str, list[str]]]:
    """``{class name: (where, [base names])}`` for every class defined in the package."""
    found: dict[str, tuple[str, list[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
                found[node.name] = (where, [_base_name(b) for b in node.bases])
    return found


def _builtin_exception(name: str) -> bool:
    value = getattr(builtins, name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


def exception_problems(found: dict[str, tuple[str, list[str]]]) -> list[str]:
    memo: dict[str, tuple[bool, bool]] = {}  # name -> (an exception, in the hierarchy)

    def kind(name: str, seen: frozenset[str] = frozenset()) -> tuple[bool, bool]:
        if name == ROOT_OF_ALL:
            return True, True
        if name not in found or name in seen:
            return _builtin_exception(name), False
        if name not in memo:
            bases = [kind(b, seen | {name}) for b in found[name][1]]
            memo[name] = any(e for e, _ in bases), any(h for _, h in bases)
        return memo[name]

    problems = []
    for name, (where, _) in sorted(found.items()):
        exception, in_hierarchy = kind(name)
        if name.endswith("Error") and not in_hierarchy:
            problems.append(f"{where}: {name} ends in Error but does not derive from {ROOT_OF_ALL}")
        elif exception and not in_hierarchy and name not in OUTSIDE_ON_PURPOSE:
            problems.append(f"{where}: exception {name} does not derive from {ROOT_OF_ALL}")
    return problems


def command_problems(package: Path) -> list[str]:
    problems = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if rel.parts[0] == "stages" or rel == Path("__main__.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for stmt in tree.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name == "main":
                problems.append(f"{rel}:{stmt.lineno}: defines main (a command belongs in stages/)")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                problems.append(f"{rel}:{node.lineno}: calls print (library code logs)")
    return problems


def test_the_checks_find_what_they_look_for(tmp_path):
    found = {
        "MathCritiqueError": ("e", ["Exception"]),
        "Good": ("g", ["MathCritiqueError", "ValueError"]),
        "Stray": ("s", ["ValueError"]),
        "RowError": ("r", ["Completion"]),
        "Completion": ("c", []),
        "Interrupted": ("i", ["BaseException"]),
    }
    assert exception_problems(found) == [
        "r: RowError ends in Error but does not derive from MathCritiqueError",
        "s: exception Stray does not derive from MathCritiqueError",
    ]
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "cmd.py").write_text("def main():\n    print('fine here')\n")
    (tmp_path / "lib.py").write_text("def main():\n    pass\n\n\ndef f():\n    print('no')\n")
    assert command_problems(tmp_path) == [
        "lib.py:1: defines main (a command belongs in stages/)",
        "lib.py:6: calls print (library code logs)",
    ]


def test_every_error_of_the_package_derives_from_one_hierarchy():
    found = classes()
    assert {"DatasetError", "FeedbackError", "SchemaError", "ResultsError", "UsageError"} <= set(found)
    assert exception_problems(found) == []


def test_the_hierarchy_holds_at_run_time():
    from selfimprove.core.errors import DataError, MathCritiqueError, UsageError
    from selfimprove.data.feedback import FeedbackError, FeedbackFilesMissing
    from selfimprove.data.records import DatasetError
    from selfimprove.evaluation.report import ResultsError
    from selfimprove.evaluation.schema import SchemaError

    assert issubclass(DatasetError, UsageError) and issubclass(FeedbackError, DataError)
    assert issubclass(SchemaError, DataError) and issubclass(ResultsError, DataError)
    assert issubclass(FeedbackFilesMissing, FileNotFoundError)  # still what callers catch
    for cls in (DatasetError, FeedbackError, SchemaError, ResultsError):
        assert issubclass(cls, MathCritiqueError) and issubclass(cls, ValueError) and cls.exit_code == 2


def test_only_commands_define_main_or_print():
    assert command_problems(PACKAGE) == []
