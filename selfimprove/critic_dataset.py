"""``python -m selfimprove.critic_dataset``: the command-line entry point of :mod:`selfimprove.stages.critic_dataset`."""

from selfimprove.core.cli import run
from selfimprove.stages.critic_dataset import main

if __name__ == "__main__":
    run(main)
