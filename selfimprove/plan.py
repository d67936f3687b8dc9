"""``python -m selfimprove.plan``: the command-line entry point of :mod:`selfimprove.stages.plan`."""

from selfimprove.core.cli import run
from selfimprove.stages.plan import main

if __name__ == "__main__":
    run(main)
