"""One entry point: ``python -m selfimprove <command>`` runs ``selfimprove/stages/<command>.py``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from selfimprove.__main__ import commands

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "selfimprove"

#: every command of the package (a driver, a script or the docs call each of them)
COMMANDS = {
    "compare",
    "config",
    "critic_annotate",
    "critic_curve",
    "critic_dataset",
    "critic_eval",
    "critic_filter",
    "critic_paths",
    "critique",
    "datasets",
    "evaluate",
    "exploration",
    "feedback",
    "filter",
    "layout",
    "manifest",
    "metrics",
    "plan",
    "prepare",
    "process",
    "refine",
    "report",
    "sample",
    "selftalk_annotate",
    "selftalk_build",
    "selftalk_eval",
    "selftalk_report",
    "selftalk_trajectories",
    "summary",
    "sweep",
    "synthetic",
    "train",
}


def selfimprove(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "selfimprove", *argv], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_the_package_root_holds_only_the_package_and_its_entry_point():
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py", "__main__.py"]


def test_every_stage_module_is_a_command():
    stages = {p.stem for p in (PACKAGE / "stages").glob("*.py") if p.stem != "__init__"}
    assert set(commands()) == stages >= COMMANDS
    for name, line in commands().items():
        assert line and "\n" not in line, name


def test_help_lists_every_command_with_one_line():
    proc = selfimprove("--help")
    assert proc.returncode == 0, proc.stderr
    listed = {}
    for line in proc.stdout.split("commands:\n", 1)[1].splitlines():
        name, _, text = line.strip().partition(" ")
        listed[name] = text.strip()
    assert listed == commands()
    assert set(listed) >= COMMANDS


def test_a_command_runs_its_stage_with_the_rest_of_the_line(tmp_path):
    proc = selfimprove("layout", str(tmp_path), "samples", "--iter", "1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "iter_1" / "01_samples.jsonl")
    proc = selfimprove("sample", "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: python -m selfimprove sample ")


def test_an_unknown_or_missing_command_is_one_line_and_exit_2():
    for argv in (["nonsense"], [], ["__init__"], ["../core/layout"]):
        proc = selfimprove(*argv)
        assert proc.returncode == 2, argv
        assert proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert "unknown command 'nonsense'" in selfimprove("nonsense").stderr


def test_no_stage_keeps_a_module_entry_of_its_own():
    """A stage runs through the entry point only (one way to start it, one signal set-up)."""
    for path in (PACKAGE / "stages").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guards = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
        assert not guards, path.name
