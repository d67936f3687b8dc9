"""``python -m selfimprove.report``: the command-line entry point of :mod:`selfimprove.evaluation.report`."""

from selfimprove.core.cli import run
from selfimprove.evaluation.report import main

if __name__ == "__main__":
    run(main)
