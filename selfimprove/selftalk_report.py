"""``python -m selfimprove.selftalk_report``: the command-line entry point of :mod:`selfimprove.stages.selftalk_report`."""

from selfimprove.core.cli import run
from selfimprove.stages.selftalk_report import main

if __name__ == "__main__":
    run(main)
