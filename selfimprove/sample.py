"""``python -m selfimprove.sample``: the command-line entry point of :mod:`selfimprove.stages.sample`."""

from selfimprove.core.cli import run
from selfimprove.stages.sample import main

if __name__ == "__main__":
    run(main)
