"""``python -m selfimprove.manifest``: the command-line entry point of :mod:`selfimprove.core.manifest`."""

from selfimprove.core.cli import run
from selfimprove.core.manifest import main

if __name__ == "__main__":
    run(main)
