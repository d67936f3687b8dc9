"""The one command line of the package: ``python -m selfimprove <command> [options]``.

Each command is a module of :mod:`selfimprove.stages` with a ``main(argv) -> int``, named like the module;
``python -m selfimprove <command> --help`` gives its options, ``python -m selfimprove --help``
lists the commands, one line each (the first line of the module's docstring). The command runs
under :func:`selfimprove.core.cli.run`: errors of the package end with one ``error:`` line and
their exit code, stop signals end it cleanly. An unknown command is one ``error:`` line, exit 2.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

STAGES = Path(__file__).resolve().parent / "stages"
USAGE = "usage: python -m selfimprove <command> [options]   (python -m selfimprove <command> --help: its options)"


def _is_command(name: str) -> bool:
    return name.isidentifier() and not name.startswith("_") and (STAGES / f"{name}.py").is_file()


def commands() -> dict[str, str]:
    """``{command: one line}`` for every stage module that defines ``main`` (read, not imported)."""
    out = {}
    for path in sorted(STAGES.glob("*.py")):
        if not _is_command(path.stem):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            doc = (ast.get_docstring(tree) or "").strip()
            out[path.stem] = doc.splitlines()[0].replace("``", "") if doc else ""
    return out


def help_text() -> str:
    listed = commands()
    width = max(map(len, listed), default=0)
    lines = [USAGE, "", "commands:"]
    lines += [f"  {name:<{width}}  {line}" for name, line in listed.items()]
    return "\n".join(lines)


def dispatch(argv: list[str]) -> int:
    """Run the command named by ``argv[0]`` with the rest of ``argv``; its exit code."""
    if argv and argv[0] in ("-h", "--help"):
        print(help_text())
        return 0
    if not argv or not _is_command(argv[0]):
        what = f"unknown command {argv[0]!r}" if argv else "no command given"
        print(f"error: {what}; python -m selfimprove --help lists the commands", file=sys.stderr)
        return 2
    stage = importlib.import_module(f"selfimprove.stages.{argv[0]}")
    if not callable(getattr(stage, "main", None)):
        print(f"error: {argv[0]!r} is not a command; python -m selfimprove --help lists them", file=sys.stderr)
        return 2
    import selfimprove.critic.likelihood  # noqa: F401  (registers the likelihood critic's engine)
    from selfimprove.core.cli import run

    run(stage.main, argv[1:])  # exits with the command's code
    return 0


if __name__ == "__main__":
    sys.exit(dispatch(sys.argv[1:]))
