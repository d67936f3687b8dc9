"""An ``argparse.ArgumentParser`` whose errors are :class:`~selfimprove.core.errors.UsageError`.

A bad command line then ends like every other error of the package: one ``error:`` line and exit
code 2, printed by :func:`selfimprove.core.cli.run` (``--help`` still prints and exits 0).
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from selfimprove.core.errors import UsageError


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")
