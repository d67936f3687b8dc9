"""``python -m selfimprove.evaluate``: the command-line entry point of :mod:`selfimprove.stages.evaluate`."""

from selfimprove.core.cli import run
from selfimprove.stages.evaluate import main

if __name__ == "__main__":
    run(main)
