"""``python -m selfimprove.train``: the command-line entry point of :mod:`selfimprove.stages.train`."""

from selfimprove.core.cli import run
from selfimprove.stages.train import main

if __name__ == "__main__":
    run(main)
