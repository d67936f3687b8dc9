"""``python -m selfimprove.critic_eval``: the command-line entry point of :mod:`selfimprove.stages.critic_eval`."""

from selfimprove.core.cli import run
from selfimprove.stages.critic_eval import main

if __name__ == "__main__":
    run(main)
