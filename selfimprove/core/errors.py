"""One error hierarchy for the whole package; :func:`selfimprove.core.cli.run` turns it into exit codes.

Library code raises these (never ``SystemExit``); the command-line entry points catch them in one
place, print the message as one ``error: ...`` line and exit with the class's ``exit_code``:

======================  ====  ==================================================================
class                   code  meaning
======================  ====  ==================================================================
``MathCritiqueError``   1     base class: something failed
``UsageError``          2     a knob, flag, name or path is wrong; refused before any compute
``DataError``           2     an input file or record is unusable (``RecordError``: ``path:line:``)
``StepError``           1     a step cannot run or failed (an external tool, a broken output)
``SettingsChanged``     2     a finished step is asked to run again with other settings
``NotEnoughSpace``      2     a step refused before it writes: its disk lacks the room its output needs
``RunLocked``           75    another live process holds the experiment's run lock (retry later)
``EngineError``         1     a generation engine could not start or answer
``GradingError``        1     one way of comparing two answers cannot decide (caught by the grader)
======================  ====  ==================================================================

Each part of the package derives its own errors from these (``DatasetError``, ``FeedbackError``,
``SchemaError``, ``ResultsError``, ``TrainingError``, ...), so every error the package raises on
purpose is a :class:`MathCritiqueError`, and a stage that does not catch it still ends with one
line. Only the stop signal (:class:`selfimprove.core.stop.Interrupted`) and the grader worker's
CPU-budget alarm are ``BaseException`` subclasses outside the hierarchy, so that ``except Exception``
cannot swallow them.

Messages are written for the user: one line, naming the file, knob or step and what to do. A
write that the disk refuses mid-step (``OSError``: no space left, read-only) is reported the same
way by :func:`selfimprove.core.cli.run`, exit code 1.
"""

from __future__ import annotations


class MathCritiqueError(Exception):
    """Base of every error the package raises on purpose."""

    exit_code = 1


class UsageError(MathCritiqueError, ValueError):
    """Bad configuration: a knob, flag, model name, experiment name or file argument."""

    exit_code = 2


class DataError(MathCritiqueError, ValueError):
    """An input file or record cannot be used."""

    exit_code = 2


class RecordError(DataError):
    """A record in an input file is malformed. The message starts with ``path:line:``."""


class ManifestError(DataError):
    """``manifest.json`` of a run cannot be read."""


class StepError(MathCritiqueError):
    """A step of a run cannot run, or failed."""

    exit_code = 1


class SettingsChanged(StepError):
    """A step recorded with some settings is started again with different ones."""

    exit_code = 2


class NotEnoughSpace(StepError):
    """The disk of a step's output lacks the room it needs (checked before the step writes)."""

    exit_code = 2


class RunLocked(StepError):
    """The experiment is being run by another live process."""

    exit_code = 75


class EngineError(MathCritiqueError):
    """A generation engine could not be built, started or could not answer."""

    exit_code = 1


class GradingError(MathCritiqueError):
    """One way of comparing two answers cannot decide (an expression outside its grammar, a value
    too large to compute). The grader catches it and tries the next way, or records the grade's
    status; it never ends a stage."""

    exit_code = 1
