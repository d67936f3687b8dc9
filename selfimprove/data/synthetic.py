"""Synthetic multi-step arithmetic word problems in GSM8K format.

The generator is the project's embedded default data: it needs no download, is deterministic
per seed, and produces problems whose difficulty is controlled exactly. A problem of level
``L`` (1-5) takes exactly ``L`` reasoning steps, and the steps form a chain: every step after
the first operates on the result of the step before it. The reference solution has one line
per step with a GSM8K calculator annotation and ends with ``#### N``::

    Maya buys 3 boxes of 12 pens, so 3 * 12 = <<3*12=36>>36 pens.
    Maya gives 5 pens to Liam, so she has 36 - 5 = <<36-5=31>>31 pens left.
    #### 31

Design (see ``docs/data.md`` for the full description):

* A problem follows one *theme* (objects, money or travel). A theme has *start* steps, which
  introduce a quantity from two numbers given in the text, and *follow-up* steps, which
  transform the current quantity with one new number (add, subtract, multiply, divide, or an
  integer percentage). Some follow-ups hand the quantity to another person ("Liam has 3
  times as many pens as Maya"); a few *final* follow-ups change what is asked ("How many
  pens does each friend get?") and may only be the last step.
* Every intermediate result is a non-negative integer below 1000; divisions and percentages
  are only chosen when they come out even.
* Every number a step uses is either stated in the question text or is an earlier result
  (fractions are written as words: half = 2, one third = 3, ...; percentages divide by 100).
* Train and test are disjoint by construction: each question text is assigned to one split
  by a hash of its text, and a split only keeps the questions assigned to it. The random
  stream is derived from ``(split, seed)``, and ``generate(n)`` is a prefix of
  ``generate(n + k)`` for the same arguments.
* ``difficulty="easy"`` (dataset ``synthetic-easy``) gives one- and two-step problems with
  numbers from 2 to 49, addition, subtraction and one-digit multiplication only, for the
  embedded demo; the default ``"standard"`` is the setting described above.
* Every record carries ``steps``: one ``{"text", "expr", "value"}`` per reference line, the
  exact values a programmatic annotator can check a solution against.

Command: ``python -m selfimprove synthetic --n 100 --split train --seed 0 --out FILE.jsonl``
(:mod:`selfimprove.stages.synthetic`).
"""

from __future__ import annotations

from selfimprove.data.synth.easy import EASY_LEVELS, EASY_MAX, EASY_THEMES
from selfimprove.data.synth.generator import (
    DIFFICULTIES,
    LEVELS,
    SPLITS,
    TEST_FRACTION_BUCKETS,
    dataset_name,
    generate,
    generate_problems,
    levels_of,
    split_of,
)
from selfimprove.data.synth.problem import (
    DATASET_NAME,
    EASY_DATASET_NAME,
    MAX_VALUE,
    MIN_VALUE,
    Problem,
    Step,
    Template,
    apply_op,
)
from selfimprove.data.synth.themes import THEMES
from selfimprove.data.synth.vocabulary import (
    CHORES,
    FRACTIONS,
    GOODS,
    GROUPS,
    ITEMS,
    MOVES,
    PEOPLE,
    PERCENTS,
    THINGS,
    Person,
)

__all__ = [
    "CHORES",
    "DATASET_NAME",
    "DIFFICULTIES",
    "EASY_DATASET_NAME",
    "EASY_LEVELS",
    "EASY_MAX",
    "EASY_THEMES",
    "FRACTIONS",
    "GOODS",
    "GROUPS",
    "ITEMS",
    "LEVELS",
    "MAX_VALUE",
    "MIN_VALUE",
    "MOVES",
    "PEOPLE",
    "PERCENTS",
    "SPLITS",
    "TEST_FRACTION_BUCKETS",
    "THEMES",
    "THINGS",
    "Person",
    "Problem",
    "Step",
    "Template",
    "apply_op",
    "dataset_name",
    "generate",
    "generate_problems",
    "levels_of",
    "split_of",
]
