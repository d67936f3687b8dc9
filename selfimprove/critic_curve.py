"""``python -m selfimprove.critic_curve``: the command-line entry point of :mod:`selfimprove.stages.critic_curve`."""

from selfimprove.core.cli import run
from selfimprove.stages.critic_curve import main

if __name__ == "__main__":
    run(main)
