"""``python -m selfimprove.layout``: the command-line entry point of :mod:`selfimprove.core.layout`."""

from selfimprove.core.cli import run
from selfimprove.core.layout import main

if __name__ == "__main__":
    run(main)
