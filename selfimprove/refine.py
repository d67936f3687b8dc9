"""``python -m selfimprove.refine``: the command-line entry point of :mod:`selfimprove.stages.refine`."""

from selfimprove.core.cli import run
from selfimprove.stages.refine import main

if __name__ == "__main__":
    run(main)
