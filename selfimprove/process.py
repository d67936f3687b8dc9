"""``python -m selfimprove.process``: the command-line entry point of :mod:`selfimprove.grading.api`."""

from selfimprove.core.cli import run
from selfimprove.grading.api import main

if __name__ == "__main__":
    run(main)
