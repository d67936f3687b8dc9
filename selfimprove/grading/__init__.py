"""Answer extraction and equivalence for grading model responses.

Modules: :mod:`.extract` (finding answers), :mod:`.normalize` (canonical strings and exact
numbers), :mod:`.equiv` (the layered equivalence), :mod:`.symbolic` (sympy, run in worker
processes), :mod:`.timeout` (the killable worker pool), :mod:`.seed` (the paper's released
logic, made safe) and :mod:`.mathverify` (the math-verify library wrapper). The public API
lives in :mod:`selfimprove.process`.
"""
