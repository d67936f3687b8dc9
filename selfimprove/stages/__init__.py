"""The commands of ``python -m selfimprove``, one module each (options -> configuration -> one call).

Importing the package applies the process-wide switches the commands take from the environment
(:func:`configure_process`); the library below reads no project setting from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from selfimprove.generation.engines import idle
from selfimprove.grading import timeout


def configure_process(env: Mapping[str, str] | None = None) -> None:
    """``SELFIMPROVE_SUSPEND_IDLE`` (0: idle engines keep running) and ``GRADER_SYMBOLIC_WORKERS``
    (size of the symbolic grading pool; 0 or unset: automatic)."""
    env = os.environ if env is None else env
    idle.set_enabled(env.get(idle.ENV, "1") != "0")
    timeout.set_pool_size(int(env.get("GRADER_SYMBOLIC_WORKERS", "0") or 0))


configure_process()
