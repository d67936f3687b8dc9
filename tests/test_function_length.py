"""No function in ``stages/`` (a command: options -> configuration -> one call) or ``evaluation/``
(numbers and their report) is longer than :data:`MAX_BODY_LINES` lines: a longer one is split
into named parts."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "selfimprove"
CHECKED = ("stages", "evaluation")
MAX_BODY_LINES = 80


def body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's body from its first statement after the docstring to its end (the
    signature, decorators and docstring do not count: the limit is on code, not on explanation)."""
    body = fn.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return (fn.end_lineno or body[-1].lineno) - body[0].lineno + 1


def long_functions(root: Path, limit: int = MAX_BODY_LINES) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and body_lines(node) > limit:
                found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({body_lines(node)} lines)")
    return found


def test_the_checker_counts_body_lines(tmp_path):
    (tmp_path / "m.py").write_text(
        'def short():\n    return 1\n\n\ndef long():\n    """Doc."""\n' + "".join(f"    x{i} = {i}\n" for i in range(5))
    )
    assert [f.split(" ", 1)[1] for f in long_functions(tmp_path, limit=4)] == ["long (5 lines)"]


def test_no_long_function_in_stages_or_evaluation():
    assert [f for sub in CHECKED for f in long_functions(PACKAGE / sub)] == []
