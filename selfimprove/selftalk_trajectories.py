"""``python -m selfimprove.selftalk_trajectories``: the command-line entry point of :mod:`selfimprove.stages.selftalk_trajectories`."""

from selfimprove.core.cli import run
from selfimprove.stages.selftalk_trajectories import main

if __name__ == "__main__":
    run(main)
