"""``python -m selfimprove.selftalk_build``: the command-line entry point of :mod:`selfimprove.stages.selftalk_build`."""

from selfimprove.core.cli import run
from selfimprove.stages.selftalk_build import main

if __name__ == "__main__":
    run(main)
