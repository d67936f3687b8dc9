"""``python -m selfimprove.selftalk_annotate``: the command-line entry point of :mod:`selfimprove.stages.selftalk_annotate`."""

from selfimprove.core.cli import run
from selfimprove.stages.selftalk_annotate import main

if __name__ == "__main__":
    run(main)
