"""``python -m selfimprove.config``: the command-line entry point of :mod:`selfimprove.stages.config`."""

from selfimprove.core.cli import run
from selfimprove.stages.config import main

if __name__ == "__main__":
    run(main)
