"""``python -m selfimprove.summary``: the command-line entry point of :mod:`selfimprove.stages.summary`."""

from selfimprove.core.cli import run
from selfimprove.stages.summary import main

if __name__ == "__main__":
    run(main)
