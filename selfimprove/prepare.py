"""``python -m selfimprove.prepare``: the command-line entry point of :mod:`selfimprove.stages.prepare`."""

from selfimprove.core.cli import run
from selfimprove.stages.prepare import main

if __name__ == "__main__":
    run(main)
