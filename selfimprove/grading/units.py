"""Units after a value: dropped when one side has none, converted when both have one.

``strip_unit_words``: ``6\\pi \\text{ square units}`` -> ``6\\pi``, ``2\\sqrt{3} cm`` ->
``2\\sqrt{3}``; only a trailing ``\\text{...}``/``\\mbox{...}`` of one to three unit-like words
(optionally ``^2``/``^3``), or plain unit words after a space, is removed, and only when what
remains is a complete expression.

``split_unit`` / ``unit_key`` name the unit an answer ends with, in one spelling
(``15\\mbox{ cm}^3``, ``15 cubic centimeters`` -> ``cm^3``; ``6 inches`` -> ``in``), and
``unit_verdict`` decides two answers that both carry a known unit: equal when they measure the
same quantity and agree once converted exactly (``30 mm`` = ``3 cm``, ``2 hours`` =
``120 minutes``), different when the quantities differ (``15 cm^3`` is not ``15 cm^2``).
"""

from __future__ import annotations

import re
from fractions import Fraction

from .normalize import canonical
from .scalars import exact_values

__all__ = ["strip_unit_words", "split_unit", "unit_key", "unit_scale", "unit_verdict", "GENERIC_UNIT"]

# --------------------------------------------------------------------------- unit words

_UNIT_TEXT_TAIL_RE = re.compile(
    r"\\(?:text|mbox|textrm|textnormal|mathrm|hbox)\s*\{([^{}]*)\}\s*(?:\^\s*\{?\s*[23]\s*\}?)?[\s.$]*$"
)
_UNIT_WORDS_TAIL_RE = re.compile(
    r"(?<=\s)([A-Za-z][A-Za-z.]*(?:\s+[A-Za-z][A-Za-z.]*){0,2})\s*(?:\^\s*\{?\s*[23]\s*\}?)?[\s.$]*$"
)
_NOT_UNITS = frozenset(
    "and or only for all where when with the of is are to if then else not any none no each every "
    "real reals numbers number integer integers even odd true false undefined exist exists".split()
)
_SHORT_UNIT_WORDS = frozenset("cm mm km m ft in yd mi kg g mg lb lbs oz ml l hr hrs h s sec min mph sq".split())


def _unit_words(text: str) -> bool:
    """True when ``text`` is one to three unit words ("square units", "cm", "sq. ft")."""
    words = [w for w in re.split(r"[\s.]+", text.strip()) if w]
    if not 1 <= len(words) <= 3:
        return False
    for w in words:
        lw = w.lower()
        if not w.isalpha() or lw in _NOT_UNITS:
            return False
        if len(lw) < 3 and lw not in _SHORT_UNIT_WORDS:
            return False
    return True


def _complete_expression(s: str) -> bool:
    """Whether ``s`` is a finished formula (no dangling operator, no plain words left)."""
    s = s.strip().rstrip("$").strip()
    if not s or s[-1] in "+-*/^_=,([{<>|" or re.search(r"\\(?:cdot|times|div|frac|sqrt)\s*$", s):
        return False
    bare = re.sub(r"\\[a-zA-Z]+", " ", s)
    if re.search(r"[A-Za-z]{3,}", bare) or not re.search(r"[0-9A-Za-z]|\\[a-zA-Z]", s):
        return False
    depth = 0
    for c in s:
        depth += c in "([{"
        depth -= c in ")]}"
        if depth < 0:
            return False
    return depth == 0


def strip_unit_words(s: str) -> str | None:
    """``s`` without trailing unit words (``6\\pi \\text{ square units}`` -> ``6\\pi``), else None.

    Only a trailing ``\\text{...}``/``\\mbox{...}`` of unit-like words, or plain unit words
    after a space, is removed, and only when what remains is a complete expression: text
    answers (``\\text{Tuesday}``) and choices (``\\text{(B)}``) are left alone.
    """
    if len(s) > 600 or not re.search(r"[A-Za-z]{2}", s):
        return None
    m = _UNIT_TEXT_TAIL_RE.search(s)
    if m is None:
        m = _UNIT_WORDS_TAIL_RE.search(s)
    if m is None or not _unit_words(m.group(1)):
        return None
    rest = s[: m.start()].rstrip()
    return rest if _complete_expression(rest) else None


# --------------------------------------------------------------------------- unit identity

#: The key of "units" / "square units": a unit that matches any other.
GENERIC_UNIT = "unit"
_UNIT_SPELLINGS = {
    "unit": "unit units",
    "mm": "mm millimeter millimeters millimetre millimetres",
    "cm": "cm centimeter centimeters centimetre centimetres",
    "m": "m meter meters metre metres",
    "km": "km kilometer kilometers kilometre kilometres",
    "in": "in inch inches",
    "ft": "ft foot feet",
    "yd": "yd yard yards",
    "mi": "mi mile miles",
    "mg": "mg milligram milligrams",
    "g": "g gram grams",
    "kg": "kg kilogram kilograms kilo kilos",
    "lb": "lb lbs pound pounds",
    "oz": "oz ounce ounces",
    "s": "s sec secs second seconds",
    "min": "min mins minute minutes",
    "h": "h hr hrs hour hours",
    "day": "day days",
    "week": "week weeks",
    "month": "month months",
    "year": "year years yr yrs",
    "ml": "ml milliliter milliliters millilitre millilitres",
    "l": "l liter liters litre litres",
    "gal": "gal gallon gallons",
    "mph": "mph",
    "dollar": "dollar dollars",
    "cent": "cent cents",
    "euro": "euro euros",
    "degree": "degree degrees",
    "radian": "radian radians rad",
}
_UNIT_KEYS = {word: key for key, words in _UNIT_SPELLINGS.items() for word in words.split()}
_POWER_WORDS = {"square": "^2", "sq": "^2", "cubic": "^3", "cu": "^3"}
_UNIT_TAIL_KEY_RE = re.compile(
    r"(?:\\(?:text|mbox|textrm|textnormal|mathrm|hbox)\s*\{([^{}]{1,40})\}|(?<=[\d}\s])([A-Za-z][A-Za-z. ]{0,39}?))"
    r"\s*(\^\s*\{?\s*[23]\s*\}?|\u00b2|\u00b3)?[\s.$]*$"
)


def split_unit(s: str) -> tuple[str, str] | None:
    """``(value, unit)`` of an answer that ends with a known unit: ``15\\mbox{ cm}^3`` ->
    ``("15", "cm^3")``; ``"unit"`` for "square units"; else ``None``.

    Only units of the known list count; a single-letter unit (``m``, ``s``, ``g``) only when it is
    written as text (``5\\text{ m}``) or after a space, so that ``5m`` stays a product.
    """
    if len(s) > 600 or not re.search(r"[A-Za-z]", s):
        return None
    s = s.replace("$", " ").rstrip()
    m = _UNIT_TAIL_KEY_RE.search(s)
    if m is None:
        return None
    text = m.group(1) if m.group(1) is not None else m.group(2)
    before = s[: m.start()].rstrip()
    if not before or not re.search(r"[\d}]$", before):
        return None  # a unit after a number or a formula, not a word answer
    words = [w for w in re.split(r"[\s.]+", text.strip().lower()) if w]
    power = m.group(3) or ""
    power = "^3" if "3" in power or "\u00b3" in power else ("^2" if power else "")
    if words and words[0] in _POWER_WORDS:
        power = _POWER_WORDS[words.pop(0)]
    if len(words) == 2 and words[1] in ("squared", "cubed"):
        power = "^2" if words.pop() == "squared" else "^3"
    if len(words) != 1 or words[0] not in _UNIT_KEYS:
        return None
    key = _UNIT_KEYS[words[0]]
    if key == GENERIC_UNIT:
        return before, GENERIC_UNIT
    if len(words[0]) == 1 and m.group(1) is None and not power and not s[m.start() - 1].isspace():
        return None  # "5m" may be a product
    return before, key + power


def unit_key(s: str) -> str | None:
    """The unit ``s`` ends with, in one spelling (``cm^2``; ``unit`` for "square units"), else ``None``."""
    split = split_unit(s)
    return split[1] if split else None


# Exact sizes in a base unit of each quantity (international yard and pound, US gallon).
_SCALES: dict[str, tuple[str, Fraction]] = {
    "mm": ("length", Fraction(1, 1000)),
    "cm": ("length", Fraction(1, 100)),
    "m": ("length", Fraction(1)),
    "km": ("length", Fraction(1000)),
    "in": ("length", Fraction("0.0254")),
    "ft": ("length", Fraction("0.3048")),
    "yd": ("length", Fraction("0.9144")),
    "mi": ("length", Fraction("1609.344")),
    "mg": ("mass", Fraction(1, 1000)),
    "g": ("mass", Fraction(1)),
    "kg": ("mass", Fraction(1000)),
    "lb": ("mass", Fraction("453.59237")),
    "oz": ("mass", Fraction("28.349523125")),
    "s": ("time", Fraction(1)),
    "min": ("time", Fraction(60)),
    "h": ("time", Fraction(3600)),
    "day": ("time", Fraction(86400)),
    "week": ("time", Fraction(604800)),
    "ml": ("volume", Fraction(1, 1000)),
    "l": ("volume", Fraction(1)),
    "gal": ("volume", Fraction("3.785411784")),
    "cent": ("money", Fraction(1, 100)),
    "dollar": ("money", Fraction(1)),
}


def unit_scale(key: str) -> tuple[str, Fraction] | None:
    """``cm^2`` -> ("length^2", 1/10000): the quantity a unit measures and its exact size, else ``None``."""
    base, _, power = key.partition("^")
    scale = _SCALES.get(base)
    if scale is None:
        return None
    p = int(power) if power else 1
    return (scale[0] + (f"^{p}" if p != 1 else ""), scale[1] ** p)


def _frac(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"\\frac{{{x.numerator}}}{{{x.denominator}}}"


def unit_verdict(raw_a: str, raw_b: str) -> bool | tuple[str, str] | None:
    """Two answers that both carry a known unit, in different units.

    ``False`` when they measure different quantities (``15 cm^3`` vs ``15 cm^2``); when they
    measure the same one, ``True``/``False`` for exact values converted (``30 mm`` = ``3 cm``), or
    the two values in the base unit to compare (``2\\sqrt{3} cm`` against ``20\\sqrt{3} mm``).
    ``None`` when the units do not decide (same unit, no unit, unknown unit, "units").
    """
    ua, ub = split_unit(raw_a), split_unit(raw_b)
    if ua is None or ub is None or GENERIC_UNIT in (ua[1], ub[1]) or ua[1] == ub[1]:
        return None
    sa, sb = unit_scale(ua[1]), unit_scale(ub[1])
    if sa is None or sb is None or sa[0] != sb[0]:
        return False
    va, vb = exact_values(canonical(ua[0])), exact_values(canonical(ub[0]))
    if va and vb:
        return any(x * sa[1] == y * sb[1] for x in va for y in vb)
    return f"{_frac(sa[1])}\\cdot({ua[0]})", f"{_frac(sb[1])}\\cdot({ub[0]})"
