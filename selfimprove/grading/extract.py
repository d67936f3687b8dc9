"""Answer extraction from model responses and reference solutions.

Everything here is plain string scanning with linear-time regular expressions, so it is
safe on arbitrarily long or adversarial text (100k-character responses, unbalanced braces).

Extraction order for a response (``extract_pred``):

1. the last ``\\boxed{...}`` / ``\\fbox{...}`` with balanced braces (also ``\\boxed 5``);
2. GSM8K's ``#### N`` marker (the last one);
3. the last answer phrase: "The answer is ...", "final answer is ...", "Answer: ...";
4. for GSM8K-type data only, the last number in the text;
5. for MATH-type data only, a marker-less one-line response is the answer itself, and as the
   last resort the last math span (``$...$``, ``\\(...\\)``, ``\\[...\\]``) near the end of the
   response, reduced to the right-most side of its ``=`` chain.

For the reference side (``extract_gold``) a bare final answer is returned as is, while a
full reference solution is reduced with the same markers (MATH ``\\boxed{}``, GSM8K ``#### N``).
"""

from __future__ import annotations

import re

__all__ = [
    "DATASET_TYPES",
    "check_dataset_type",
    "find_last_boxed",
    "extract_pred",
    "extract_gold",
    "last_number",
    "last_math_span",
]

DATASET_TYPES = ("gsm8k", "math")

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\b")
_HASH_RE = re.compile(r"####")
# Phrases that introduce a final answer. Matched case-insensitively; the last one wins.
_PHRASE_RE = re.compile(r"\banswer(?:\s+is\b|\s*\**\s*[:：])[\s*:：]*", re.IGNORECASE)
_BARE_MAX = 80  # a marker-less math response this short is taken as the answer itself
_NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_MIXED_TEXT_RE = re.compile(r"(?<![\d.,/])-?(\d{1,9}) (\d{1,9})/(\d{1,9})(?![\d/]|[.,]\d)")


def check_dataset_type(dataset_type: str) -> str:
    """Return ``dataset_type`` if it is supported, else raise ``ValueError``."""
    if dataset_type not in DATASET_TYPES:
        raise ValueError(f"unknown dataset_type {dataset_type!r}: expected one of {', '.join(DATASET_TYPES)}")
    return dataset_type


def _balanced_group(text: str, start: int) -> tuple[str, int] | None:
    """Return the content of the brace group opening at ``text[start] == '{'`` and its end."""
    depth = 0
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            i += 2  # skip escaped characters such as \{ and \}
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
        i += 1
    return None


def find_last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` or ``\\fbox{...}`` whose braces balance.

    ``\\boxed 5`` (no braces) yields the following token. Boxes whose braces never close are
    skipped in favour of an earlier well-formed one.
    """
    if not text or "box" not in text:
        return None
    starts = [m.end() for m in _BOX_RE.finditer(text)]
    for pos in reversed(starts):
        j = pos
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == "{":
            got = _balanced_group(text, j)
            if got is not None:
                return got[0].strip()
            continue
        m = re.match(r"[^\s$]+", text[j : j + 200])
        if m and j > pos:
            return m.group(0).rstrip(".,;")
    return None


def last_number(text: str) -> str | None:
    """The last number written in ``text`` (thousands separators allowed), or ``None``."""
    last = None
    for m in _NUMBER_RE.finditer(text):
        last = m
    if last is None:
        return None
    # "... is 3 1/4 cups": a trailing plain-text mixed number is kept whole (3 + 1/4).
    start = max(0, last.start() - 24)
    for m in _MIXED_TEXT_RE.finditer(text, start, last.end() + 1):
        if m.end() == last.end() and int(m.group(2)) < int(m.group(3)):
            return m.group(0)
    return last.group(0).rstrip(",")


def _phrase_tail(text: str) -> str | None:
    """Answer text after the final answer phrase, cut at the end of its line/sentence."""
    last = None
    for m in _PHRASE_RE.finditer(text):
        last = m
    if last is None:
        return None
    tail = text[last.end() :].lstrip(" \t:*")
    if not tail:
        return None
    if tail.startswith("$$") or tail.startswith("\\[") or tail.startswith("\\("):
        close = {"$$": "$$", "\\[": "\\]", "\\(": "\\)"}[tail[:2]]
        end = tail.find(close, 2)
        if end != -1:
            return tail[2:end].strip()
    if tail.startswith("$") and not re.match(r"\$\s?\d", tail):
        end = tail.find("$", 1)
        if end != -1:
            return tail[1:end].strip()
    line = tail.split("\n", 1)[0]
    # End of sentence: a period followed by whitespace/end that is not a decimal point.
    m = re.search(r"\.(?:\s|$)", line)
    if m:
        line = line[: m.start()]
    line = line.strip().strip("*").strip()
    if line.startswith("$") and line.endswith("$") and len(line) > 1 and line.count("$") == 2:
        line = line[1:-1]
    return line.strip() or None


def _hash_answer(text: str) -> str | None:
    idx = text.rfind("####")
    if idx == -1:
        return None
    tail = text[idx + 4 :].strip().split("\n", 1)[0].strip()
    return tail or None


def extract_pred(response: str, dataset_type: str) -> str | None:
    """Extract the final answer from a model response (``None`` when there is none)."""
    check_dataset_type(dataset_type)
    if not isinstance(response, str) or not response.strip():
        return None
    boxed = find_last_boxed(response)
    if boxed:
        return boxed
    hashed = _hash_answer(response)
    if hashed:
        return hashed
    phrase = _phrase_tail(response)
    if phrase:
        if dataset_type == "gsm8k":
            return _gsm8k_from_phrase(phrase)
        return phrase
    if dataset_type == "gsm8k":
        return last_number(response)
    text = response.strip()
    if len(text) <= _BARE_MAX and "\n" not in text and "box" not in text:
        # A response that is nothing but an answer ("$\\frac{1}{2}$"), unless it is a short
        # sentence around a math span ("Hence $a+b=7$.").
        outside = _SPAN_RE.sub(" ", text)
        if outside != text and re.search(r"[A-Za-z]{2,}", outside):
            return last_math_span(text) or text
        return text
    # Last resort: the last math span near the end ("... the probability is $\\frac{15}{36} =
    # \\frac{5}{12}$."), reduced to the right-most side of its "=" chain.
    return last_math_span(text)


_SPAN_WINDOW = 4000  # only this much of the end of a response is scanned for math spans
_SPAN_TAIL = 300  # the span must end within this many characters of the end
_SPAN_MAX = 400
_SPAN_RE = re.compile(
    r"\$\$([^$]{1,%d})\$\$|\\\[((?:(?!\\\]).){1,%d})\\\]|\\\(((?:(?!\\\)).){1,%d})\\\)|\$([^$]{1,%d})\$"
    % (_SPAN_MAX, _SPAN_MAX, _SPAN_MAX, _SPAN_MAX),
    re.S,
)


def _rightmost_side(expr: str) -> str | None:
    """Right-most side of an ``a = b = c`` chain (``=`` outside brackets); ``\\approx`` tails dropped."""
    parts, depth, cur = [], 0, 0
    for m in re.finditer(r"[{}()\[\]]|(?<![<>!=:\\])=(?!=)", expr):
        c = m.group(0)
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        elif depth == 0:
            parts.append(expr[cur : m.start()])
            cur = m.end()
    parts.append(expr[cur:])
    side = parts[-1].strip()
    if "\\approx" in side:
        before = side.split("\\approx", 1)[0].strip()
        side = before or side
    side = side.strip().rstrip(".,;").strip()
    return side or None


def last_math_span(text: str) -> str | None:
    """The last ``$...$`` / ``$$...$$`` / ``\\(...\\)`` / ``\\[...\\]`` span ending near the end of
    ``text``, reduced to the right-most side of an ``=`` chain; ``None`` when there is none."""
    if not text:
        return None
    start = max(0, len(text) - _SPAN_WINDOW)
    if start:
        # Keep "$" pairing right: when the window starts inside a "$...$", skip past it.
        before = text[:start]
        if (before.count("$") - before.count("\\$")) % 2:
            nxt = text.find("$", start)
            if nxt == -1:
                return None
            start = nxt + 1
    last = None
    for m in _SPAN_RE.finditer(text, start):
        last = m
    if last is None or last.end() < len(text) - _SPAN_TAIL:
        return None
    content = next(g for g in last.groups() if g is not None).strip()
    if not content or "box" in content:
        return None
    return _rightmost_side(content)


def _gsm8k_from_phrase(phrase: str) -> str | None:
    """Reduce a GSM8K answer phrase to its number when it is wordy ("$18 per day" -> "18")."""
    from .normalize import parse_number  # local import: normalize imports nothing from here

    if parse_number(phrase) is not None:
        return phrase
    if "=" in phrase:
        phrase = phrase.rsplit("=", 1)[1]
        return last_number(phrase) or phrase.strip() or None
    m = _NUMBER_RE.search(phrase)
    return m.group(0).rstrip(",") if m else phrase


def extract_gold(gold: str, dataset_type: str) -> str | None:
    """Bare final answer from either a bare answer or a full reference solution."""
    check_dataset_type(dataset_type)
    if not isinstance(gold, str):
        gold = "" if gold is None else str(gold)
    text = gold.strip()
    if not text:
        return None
    hashed = _hash_answer(text) if "####" in text else None
    if dataset_type == "gsm8k" and hashed:
        return hashed
    boxed = find_last_boxed(text)
    if boxed:
        return boxed
    if hashed:
        return hashed
    if "\n" in text or len(text) > 200:
        # A solution without markers: fall back to the response rules.
        phrase = _phrase_tail(text)
        if phrase:
            return phrase
        if dataset_type == "gsm8k":
            return last_number(text)
    return text
