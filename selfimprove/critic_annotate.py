"""``python -m selfimprove.critic_annotate``: the command-line entry point of :mod:`selfimprove.stages.critic_annotate`."""

from selfimprove.core.cli import run
from selfimprove.stages.critic_annotate import main

if __name__ == "__main__":
    run(main)
