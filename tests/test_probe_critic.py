"""scripts/probe_critic.py: the probe's prompt is the critic's own."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("probe_critic", ROOT / "scripts" / "probe_critic.py")
assert _spec is not None and _spec.loader is not None
probe_critic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe_critic)
