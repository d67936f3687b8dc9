"""Exact values of numeric answers (``fractions.Fraction``), never floats.

``parse_number`` reads thousands separators (``1,000``, ``1{,}000``, ``1,\\!000``, ``2 500``),
currency, percent, unit words, degrees, scientific notation, leading-dot decimals, mixed
numbers (``4\\frac{2}{3}``, ``3 1/4``) and repeating decimals (``0.\\overline{3}``). Sizes are
bounded so no input can create a gigantic integer. ``number_values`` gives every acceptable
reading (``50%`` is 50 or 1/2); ``decimal_places`` says how many decimals an answer was
written with (the numeric tolerance policy in :mod:`.equiv` needs it).
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

from .latex import group_end
from .normalize import canonical

__all__ = ["parse_number", "number_values", "decimal_places", "decimal_comma_value", "significant_digits"]

_MAX_DIGITS = 400
_MAX_EXP = 400
_MAX_DECORATED = 500  # longer strings are not numbers with decorations

_DEC = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DEC_SEP = r"(?:(?:[1-9]\d{0,2}|0(?=,\d{3},))(?:,\d{3})+(?:\.\d+)?)"  # "1,000"; "0,111" is not a thousands number
_NUM_RE = re.compile(rf"({_DEC_SEP}|{_DEC})")
_SCI_RE = re.compile(rf"({_DEC})(?:[eE]([+-]?\d+)|(?:\\times|\\cdot|\*|x)10\^(?:\{{([+-]?\d+)\}}|([+-]?\d)))")
_FRAC_RE = re.compile(rf"\\frac\{{([+-]?{_DEC})\}}\{{([+-]?{_DEC})\}}")
_SLASH_RE = re.compile(rf"([+-]?{_DEC})/([+-]?{_DEC})")
_MIXED_RE = re.compile(r"(\d+)(?:\\frac\{(\d+)\}\{(\d+)\}|\s(\d+)/(\d+))")
_REPEAT_RE = re.compile(r"(\d*)\.(\d*)(?:\\overline\{(\d+)\}|\\overline(\d)|\\dot\{(\d)\}|\((\d+)\))")
_UNIT_TAIL_RE = re.compile(r"^(.*?[\d}%.])\s*([A-Za-z][A-Za-z .'/-]*?)(\^\{?[23]\}?)?\.?$")
_CURRENCY_RE = re.compile(r"^(?:us\$|usd|rs\.?|inr|eur|€|£|¥)\s*", re.IGNORECASE)
_CURRENCY_TAIL_RE = re.compile(r"(?<=[\d.])\s*(?:€|£|¥|usd|eur)$", re.IGNORECASE)
# A decimal comma ("1000,99", "0,111", "2,74"): only where the comma cannot be a thousands separator.
_DECIMAL_COMMA_RE = re.compile(r"^(-?)(\d+),(\d+)$")
_PLAIN_NUM_RE = re.compile(r"[+-]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)")


def _dec_to_fraction(text: str) -> Fraction | None:
    text = text.replace(",", "")
    if len(text) > _MAX_DIGITS:
        return None
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def _parse_unsigned(s: str) -> Fraction | None:
    m = _NUM_RE.fullmatch(s)
    if m:
        return _dec_to_fraction(m.group(1))
    m = _SCI_RE.fullmatch(s)
    if m:
        mant = _dec_to_fraction(m.group(1))
        exp_txt = m.group(2) or m.group(3) or m.group(4)
        exp = int(exp_txt)
        if mant is None or abs(exp) > _MAX_EXP:
            return None
        return mant * Fraction(10) ** exp
    m = _FRAC_RE.fullmatch(s) or _SLASH_RE.fullmatch(s)  # \frac{a}{b} or a/b
    if m:
        num, den = _dec_to_fraction(m.group(1)), _dec_to_fraction(m.group(2))
        if num is None or not den:
            return None
        return num / den
    m = _MIXED_RE.fullmatch(s)
    if m:
        whole = int(m.group(1))
        top = int(m.group(2) or m.group(4))
        bottom = int(m.group(3) or m.group(5))
        if bottom == 0 or top >= bottom or len(s) > _MAX_DIGITS:
            return None
        return whole + Fraction(top, bottom)
    m = _REPEAT_RE.fullmatch(s)
    if m:
        ip, fixed = m.group(1) or "0", m.group(2)
        rep = next(g for g in m.groups()[2:] if g)
        if len(ip) + len(fixed) + len(rep) > _MAX_DIGITS:
            return None
        base = Fraction(int(ip)) + (Fraction(int(fixed), 10 ** len(fixed)) if fixed else 0)
        return base + Fraction(int(rep), (10 ** len(rep) - 1) * 10 ** len(fixed))
    return None


_SHORT_UNITS = frozenset("cm mm km ft in yd mi kg mg lb oz ml hr hrs mph sq m2 cm2 ft2 am pm".split())


def _is_unit(word: str, power: str | None = None) -> bool:
    """True for unit-like trailing words: any word of 3+ letters, a known short unit, or any short
    word raised to a power (``m^2``, ``m²``)."""
    word = word.strip().lower()
    if power and re.fullmatch(r"[a-z]{1,3}", word):
        return True
    return bool(re.search(r"[a-z]{3,}", word)) or word in _SHORT_UNITS


def _strip_decorations(s: str) -> tuple[str, bool]:
    """Remove currency, percent, degrees and trailing unit words; report a percent sign."""
    s = s.strip()
    pct = False
    if len(s) > _MAX_DECORATED:
        return s, pct
    for _ in range(3):
        before = s
        s = _CURRENCY_TAIL_RE.sub("", _CURRENCY_RE.sub("", s).strip()).strip()
        if s.endswith("%"):
            s, pct = s[:-1].strip(), True
        for word in ("percent", "per cent"):
            if s.lower().endswith(word):
                s, pct = s[: -len(word)].strip(), True
        m = _UNIT_TAIL_RE.match(s)
        if m and _PLAIN_NUM_RE.search(m.group(1)) and _is_unit(m.group(2), m.group(3)):
            s = m.group(1).strip()
        s = s.rstrip(".").strip()
        if s == before:
            break
    return s, pct


def _parse_core(s: str) -> tuple[Fraction | None, bool]:
    s, pct = _strip_decorations(s)
    if ", " in s:
        return None, pct  # "32, 349" is a list of two numbers
    s = s.replace(" ", "")
    if not s or len(s) > _MAX_DIGITS + 40:
        return None, pct
    sign = 1
    while s[:1] in ("-", "+"):
        if s[0] == "-":
            sign = -sign
        s = s[1:]
    if s.startswith("{") and s.endswith("}") and group_end(s, 0) == len(s):
        s = s[1:-1]
    val = _parse_unsigned(s)
    if val is None:
        return None, pct
    return sign * val, pct


def parse_number(s: str | None) -> Fraction | None:
    """Exact value of a purely numeric answer, or ``None`` when it is not one.

    A percent sign is dropped (``"50\\%"`` -> 50); see :func:`number_values` for the
    percent-aware set of readings.
    """
    if not s:
        return None
    try:
        val, _ = _parse_core(canonical(s))
        return val
    except Exception:  # pragma: no cover - defensive: never raise on strings
        return None


@lru_cache(maxsize=1 << 15)
def number_values(s: str | None) -> frozenset[Fraction] | None:
    """All acceptable readings of a numeric answer (``50%`` reads as 50 or 1/2)."""
    if not s:
        return None
    try:
        val, pct = _parse_core(canonical(s))
    except Exception:  # pragma: no cover - defensive
        return None
    if val is None:
        return None
    return frozenset({val, val / 100}) if pct else frozenset({val})


_DECIMAL_RE = re.compile(r"[+-]?(?:\d[\d,]*)?\.(\d+)(?:[eE][+-]?\d+|(?:\\times|\\cdot)10\^(?:\{[+-]?\d+\}|[+-]?\d))?")


@lru_cache(maxsize=1 << 15)
def decimal_places(s: str | None) -> int | None:
    """Number of decimals of an answer written as a plain decimal (``"3.1416"`` -> 4), else ``None``."""
    if not s:
        return None
    c, _ = _strip_decorations(canonical(s))
    m = _DECIMAL_RE.fullmatch(c.replace(" ", ""))
    return len(m.group(1)) if m else None


def decimal_comma_value(s: str | None) -> Fraction | None:
    """``1000,99`` -> 1000.99: the value of a number written with a decimal comma, else ``None``.

    Only a comma that cannot separate thousands counts (not followed by exactly three digits,
    or after a lone ``0``): ``1,234`` is one thousand two hundred and thirty-four.
    """
    if not s:
        return None
    c, _ = _strip_decorations(canonical(s))
    m = _DECIMAL_COMMA_RE.match(c)
    if not m or (len(m.group(3)) == 3 and m.group(2) != "0") or len(c) > 60:
        return None
    value = Fraction(f"{m.group(2)}.{m.group(3)}")
    return -value if m.group(1) else value


def significant_digits(s: str | None) -> int:
    """Significant digits of a plain decimal (``0.30000000000000004`` -> 17), else 0."""
    if not s:
        return 0
    c, _ = _strip_decorations(canonical(s))
    m = re.fullmatch(r"[+-]?(\d*)\.(\d+)", c.replace(",", ""))
    if not m:
        return 0
    return len((m.group(1) + m.group(2)).lstrip("0"))
