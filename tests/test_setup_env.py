"""scripts/setup_env.sh stops before an install that cannot fit on the disk, instead of failing
halfway through pip with "No space left on device" and leaving a broken venv behind."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def project_copy(tmp_path: Path) -> Path:
    """The set-up script and the requirement files in a project of their own, with no venvs."""
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup_env.sh", root / "scripts")
    shutil.copytree(ROOT / "requirements", root / "requirements")
    return root


def run_setup(root: Path, target: str, min_free_gb: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PROFILE": "cpu", "PYTHON": sys.executable, "MIN_FREE_GB": min_free_gb}
    return subprocess.run(
        ["bash", str(root / "scripts" / "setup_env.sh"), target],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_too_little_disk_stops_before_the_venv_is_created(tmp_path):
    root = project_copy(tmp_path)
    for target, venv in (("inference", ".venv"), ("train", ".venv-train")):
        done = run_setup(root, target, min_free_gb="1000000")
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"{venv} needs about 1000000 GiB of free disk" in done.stderr
        assert "MIN_FREE_GB=0" in done.stderr
        assert not (root / venv).exists()
