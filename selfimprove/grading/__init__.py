"""Answer extraction and equivalence for grading model responses.

The public API is :mod:`selfimprove.grading.api` (``grade``, ``grade_batch``, ``vote``, ...;
``python -m selfimprove process`` is its command line) and :mod:`selfimprove.grading.reward`
(``compute_score`` for RL frameworks). Inside, cheapest first:

* :mod:`.latex` -- the one brace/bracket/``\\boxed`` parser (linear);
* :mod:`.extract`, :mod:`.phrases`, :mod:`.spans` -- finding the final answer in a response or a
  solution (boxes, answer phrases, closing sentences, chat turns);
* :mod:`.normalize`, :mod:`.numbers`, :mod:`.arith`, :mod:`.scalars` -- canonical strings, exact
  numbers, exact arithmetic, the numeric tolerance policy;
* :mod:`.structure`, :mod:`.matching`, :mod:`.matrices`, :mod:`.units` -- lists, sets,
  intervals, matrices (and computations on them), inequalities, named answers, clock times,
  ratios; units (dropped or converted);
* :mod:`.expr`, :mod:`.numeric` -- in-process numeric probing of expressions and equations;
* :mod:`.symbolic`, :mod:`.timeout`, :mod:`.worker` -- sympy in warm worker processes bounded in
  CPU time;
* :mod:`.equiv` -- the layered comparison with its deterministic budget;
* :mod:`.grader`, :mod:`.batch`, :mod:`.cli` -- one grade, many grades, the command line;
* :mod:`.seed`, :mod:`.mathverify` -- the paper's released logic (made safe) and math-verify,
  for comparison.
"""
