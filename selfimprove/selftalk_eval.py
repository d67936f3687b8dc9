"""``python -m selfimprove.selftalk_eval``: the command-line entry point of :mod:`selfimprove.stages.selftalk_eval`."""

from selfimprove.core.cli import run
from selfimprove.stages.selftalk_eval import main

if __name__ == "__main__":
    run(main)
