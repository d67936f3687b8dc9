"""Word lists of the synthetic generator: people, items, goods, chores, groups, travel modes.

Changing any list changes which problems a seed produces, so the lists are frozen: add a new
list (and use it only in a new template) rather than editing one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    name: str
    subj: str  # she / he
    obj: str  # her / him
    pos: str  # her / his


_FEMALE = (
    "Maya",
    "Sofia",
    "Ava",
    "Zoe",
    "Lena",
    "Priya",
    "Chloe",
    "Amara",
    "Nora",
    "Ines",
    "Hana",
    "Elif",
    "Grace",
    "Yara",
)
_MALE = (
    "Liam",
    "Noah",
    "Ethan",
    "Omar",
    "Mateo",
    "Kenji",
    "Diego",
    "Felix",
    "Ravi",
    "Tomas",
    "Jonah",
    "Kofi",
    "Arjun",
    "Oscar",
)
PEOPLE = tuple(Person(n, "she", "her", "her") for n in _FEMALE) + tuple(Person(n, "he", "him", "his") for n in _MALE)

# (plural item, container singular, container plural, verb)
ITEMS = (
    ("pens", "box", "boxes", "buys"),
    ("stickers", "sheet", "sheets", "collects"),
    ("apples", "basket", "baskets", "picks"),
    ("cookies", "tray", "trays", "bakes"),
    ("marbles", "bag", "bags", "collects"),
    ("eggs", "carton", "cartons", "collects"),
    ("seashells", "bucket", "buckets", "gathers"),
    ("trading cards", "pack", "packs", "buys"),
    ("cupcakes", "tray", "trays", "bakes"),
    ("beads", "jar", "jars", "buys"),
    ("tomatoes", "crate", "crates", "picks"),
    ("paper cranes", "string", "strings", "folds"),
)
GOODS = ("cups of lemonade", "bracelets", "drawings", "muffins", "potted plants", "birdhouses")
THINGS = (
    "a book",
    "a scarf",
    "a board game",
    "a kite",
    "a lunch box",
    "a pair of gloves",
    "a puzzle",
    "a backpack",
    "art supplies",
    "a concert ticket",
)
CHORES = ("walking dogs", "washing cars", "mowing lawns", "babysitting", "raking leaves", "tutoring")
GROUPS = (("friends", "friend"), ("cousins", "cousin"), ("teammates", "teammate"), ("classmates", "classmate"))
# (3rd person verb, base verb, unit, speed range, leg range)
MOVES = (
    ("drives", "drive", "miles", (20, 70), (10, 150)),
    ("cycles", "cycle", "kilometers", (8, 25), (5, 60)),
    ("walks", "walk", "kilometers", (2, 6), (2, 15)),
    ("runs", "run", "kilometers", (6, 14), (2, 25)),
    ("sails", "sail", "miles", (5, 20), (5, 60)),
)
FRACTIONS = {2: "half", 3: "one third", 4: "one quarter", 5: "one fifth"}
PERCENTS = (10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90)
