"""``python -m selfimprove.critique``: the command-line entry point of :mod:`selfimprove.stages.critique`."""

from selfimprove.core.cli import run
from selfimprove.stages.critique import main

if __name__ == "__main__":
    run(main)
