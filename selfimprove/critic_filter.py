"""``python -m selfimprove.critic_filter``: the command-line entry point of :mod:`selfimprove.stages.critic_filter`."""

from selfimprove.core.cli import run
from selfimprove.stages.critic_filter import main

if __name__ == "__main__":
    run(main)
