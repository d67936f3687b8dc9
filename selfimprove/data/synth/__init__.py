"""The synthetic word-problem generator, by concept (the public API is :mod:`selfimprove.data.synthetic`).

* :mod:`.vocabulary` -- word lists (people, items, goods, chores, travel modes);
* :mod:`.problem` -- steps, problems, themes, the step builder and the number pickers;
* :mod:`.steps` -- the step functions both difficulties build their steps with;
* :mod:`.themes` -- the step templates of the standard problems (objects, money, travel);
* :mod:`.easy` -- the step templates of the easy problems (objects, money);
* :mod:`.generator` -- the seeded stream, split assignment and ``generate``.
"""
