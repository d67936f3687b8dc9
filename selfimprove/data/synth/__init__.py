"""The synthetic word-problem generator, by concept (the public API is :mod:`selfimprove.data.synthetic`).

* :mod:`.vocabulary` -- word lists (people, items, goods, chores, travel modes);
* :mod:`.problem` -- steps, problems, the step builder and number helpers;
* :mod:`.themes` -- the step templates of the standard problems (objects, money, travel);
* :mod:`.generator` -- the seeded stream, split assignment and ``generate``.
"""
