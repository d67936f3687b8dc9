"""``python -m selfimprove.critic_paths``: the command-line entry point of :mod:`selfimprove.stages.critic_paths`."""

from selfimprove.core.cli import run
from selfimprove.stages.critic_paths import main

if __name__ == "__main__":
    run(main)
