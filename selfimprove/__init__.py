"""MathCritique: critique models for LLM math reasoning at test time and training time.

A reimplementation of "Enhancing LLM Reasoning via Critique Models with Test-Time and
Training-Time Supervision" (arXiv 2411.16579) as a shell-orchestrated pipeline of small
Python stages.
"""

__version__ = "0.1.0"


def _stop_cleanly_from_the_start() -> None:
    """A stage (``python -m selfimprove <command>``) handles SIGTERM, SIGINT and SIGHUP from here on,
    before its heavy imports (:mod:`selfimprove.core.stop`); importing the package does not."""
    import sys

    from selfimprove.core import stop

    if stop.stage_entry(getattr(sys, "orig_argv", [])):
        stop.install_early()


_stop_cleanly_from_the_start()
