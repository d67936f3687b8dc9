"""``python -m selfimprove.filter``: the command-line entry point of :mod:`selfimprove.stages.filtering`."""

from selfimprove.core.cli import run
from selfimprove.stages.filtering import main

if __name__ == "__main__":
    run(main)
