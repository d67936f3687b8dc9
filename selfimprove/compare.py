"""``python -m selfimprove.compare``: the command-line entry point of :mod:`selfimprove.evaluation.compare`."""

from selfimprove.core.cli import run
from selfimprove.evaluation.compare import main

if __name__ == "__main__":
    run(main)
