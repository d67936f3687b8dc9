"""``python -m selfimprove.sweep``: the command-line entry point of :mod:`selfimprove.stages.sweep`."""

from selfimprove.core.cli import run
from selfimprove.stages.sweep import main

if __name__ == "__main__":
    run(main)
