"""Answer extraction from model responses and reference solutions.

Every scan here is linear in the length of the text (regular expressions without nested
quantifiers, one brace pass in :mod:`.latex`), and a response longer than
``MAX_RESPONSE_CHARS`` is read from its last ``MAX_RESPONSE_CHARS`` characters only (answers
are at the end), so no input can make extraction slow.

Extraction order for a response (``extract_pred``); a response is first cut at the first
chat-template marker that follows some text (``<|im_start|>``, ``<|eot_id|>``, ``</s>``...:
a model that did not stop writes the next turn there):

1. ``\\boxed{...}`` / ``\\fbox{...}``: the last well-formed box. Boxes written next to it,
   separated only by connectors (``,``, ``and``, ``or``, ``;``, ``x =``, ``\\)`` ``\\(``,
   part labels ``for part (a)``, at most two other words such as a unit), are one answer each
   and are read together as a list (``\\boxed{3}`` and ``\\boxed{-4}`` -> ``3, -4``).
   A final-answer phrase or a "$6$ is our answer" written *after* the last box wins over it
   (the box was intermediate);
2. GSM8K's ``#### N`` marker (the last one);
3. the last answer phrase (:mod:`.phrases`): "The answer is ...", "final answer is ...",
   "Answer: ...", or "<value> is our answer". A closing sentence after the phrase is reduced to
   what follows its last "is"/"equals" ("Final Answer: The smallest $k$ is 12." -> ``12``) or
   to the one value it states;
4. for GSM8K-type data only, the last number in the text (a number glued inside a word, as
   in ``QX7B3``, is not a number);
5. for MATH-type data only: a marker-less one-line response is the answer itself (prose
   around one number gives the number); a closing sentence "... so the total is 41." gives
   what follows its verb (sign-offs such as "I hope it is correct." skipped); as the last
   resort, the last math span (``$...$``, ``\\(...\\)``, ``\\[...\\]``) near the end of the
   response, reduced to the right-most side of its ``=`` chain.

For the reference side (``extract_gold``) a bare final answer is returned as is (several boxes
without prose around them are one list; a box that never closes gives its content), while a
full reference solution is reduced with the same markers (MATH ``\\boxed{}``, GSM8K ``#### N``).
"""

from __future__ import annotations

import re

from .latex import Box, find_boxes, find_last_boxed
from .phrases import (
    closing_sentence,
    cut_chat_turns,
    has_prose,
    last_phrase,
    last_prose_number,
    outside_spans,
    phrase_tail,
    reversed_phrase,
    reversed_value,
    usable_over_box,
)
from .spans import last_math_span

__all__ = [
    "DATASET_TYPES",
    "MAX_RESPONSE_CHARS",
    "check_dataset_type",
    "find_last_boxed",
    "boxed_answer",
    "extract_pred",
    "extract_gold",
    "last_number",
    "last_math_span",
]

DATASET_TYPES = ("gsm8k", "math")

#: A response longer than this is read from its last ``MAX_RESPONSE_CHARS`` characters.
MAX_RESPONSE_CHARS = 200_000

_BARE_MAX = 80  # a marker-less math response this short is taken as the answer itself
# A number is not glued to a letter or another number on its left ("QX7B3" holds none).
_NUMBER_RE = re.compile(r"(?<![A-Za-z\d.,])(?:-?\d[\d,]*(?:\.\d+)?|-?\.\d+)")
_MIXED_TEXT_RE = re.compile(r"(?<![\d.,/])-?(\d{1,9}) (\d{1,9})/(\d{1,9})(?![\d/]|[.,]\d)")
# What may sit between two boxes that form one list answer: "$\\boxed{3}$ and $\\boxed{-4}$",
# "\\(y_1 = \\boxed{...}\\) and \\(y_2 = \\boxed{...}\\)", "\\boxed{(3,3)} \\text{ for part (a) and } \\boxed{(1,1)}",
# "\\boxed{1} papers and \\boxed{2} bins". Any other word counts against the gap (below).
_BOX_GAP_RE = re.compile(
    r"(?:[\s$,;&]|\\[,;:! ()\[\]]|\\q?quad\b|\\\\|\\(?:text|mbox|textrm|textnormal)\s*\{|\}"
    r"|\(?[a-h]\)|[A-Za-z](?:_\{?\w{1,3}\}?)?\s*=|[A-Za-z]+(?![A-Za-z]))*",
    re.IGNORECASE,
)
_GAP_CONNECTORS = frozenset({"and", "or"})
_GAP_PART_WORDS = frozenset({"for", "part", "parts", "the"})
_GAP_WORD_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]+(?![A-Za-z_]*\s*=)")
_BOX_GAP_MAX = 60
_NO_ANSWER_RE = re.compile(
    r"\b(?:cannot|can't|can not|unable to|impossible to) (?:be )?(?:determine|determined|find|found|answer|solve)"
    r"|\bnot enough information\b",
    re.IGNORECASE,
)

_UNCLOSED_BOX_RE = re.compile(r"^\\{1,2}(?:boxed|fbox)\s*\{")
# Three words in a row: prose, so a text is a solution rather than a bare answer.
_PROSE_RUN_RE = re.compile(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}\s+[A-Za-z]{2,}")


def check_dataset_type(dataset_type: str) -> str:
    """Return ``dataset_type`` if it is supported, else raise ``ValueError``."""
    if dataset_type not in DATASET_TYPES:
        raise ValueError(f"unknown dataset_type {dataset_type!r}: expected one of {', '.join(DATASET_TYPES)}")
    return dataset_type


def _cap(text: str) -> str:
    return text if len(text) <= MAX_RESPONSE_CHARS else text[-MAX_RESPONSE_CHARS:]


# --------------------------------------------------------------------------- boxes


def _joining_gap(gap: str) -> bool:
    """Whether the text between two boxes joins them into one list answer.

    Only connectors (``,`` ``;`` ``and`` ``or``), spacing, math delimiters, part labels
    (``for part (a)``), ``name =`` and at most two other words (a unit after the first box,
    ``papers and``) followed by a connector may sit there.
    """
    if _BOX_GAP_RE.fullmatch(gap) is None or gap.count("\n") > 2:
        return False
    bare = re.sub(r"\\[a-zA-Z]+", " ", gap)
    words = [w.lower() for w in _GAP_WORD_RE.findall(bare)]
    other = [w for w in words if w not in _GAP_CONNECTORS and w not in _GAP_PART_WORDS and len(w) > 1]
    if len(other) > 2:
        return False
    if other and not (set(words) & _GAP_CONNECTORS or re.search(r"[,;]|\\q?quad", gap)):
        return False
    return True


def _boxes_answer(text: str, boxes: list[Box]) -> str | None:
    """The last box, joined with the boxes written right before it as one list answer."""
    if not boxes:
        return None
    chain = [boxes[-1]]
    for prev in reversed(boxes[:-1]):
        cur = chain[-1]
        if prev.end > cur.start or cur.start - prev.end > _BOX_GAP_MAX:
            break
        gap = text[prev.end : cur.start]
        if not _joining_gap(gap):
            break
        chain.append(prev)
    parts: list[str] = []
    for box in reversed(chain):
        c = box.content(text)
        if c and c not in parts:
            parts.append(c)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else ", ".join(parts)


def _top_level(boxes: list[Box]) -> list[Box]:
    """The boxes not nested inside an earlier one."""
    out: list[Box] = []
    for box in boxes:
        if not out or box.start >= out[-1].end:
            out.append(box)
    return out


def _outside_boxes(text: str, boxes: list[Box]) -> str:
    pieces, pos = [], 0
    for box in _top_level(boxes):
        pieces.append(text[pos : box.start])
        pos = box.end
    pieces.append(text[pos:])
    return " ".join(pieces)


def boxed_answer(text: str) -> str | None:
    """The boxed answer of ``text``: the last box, or the list of boxes written side by side."""
    text = _cap(text)
    return _boxes_answer(text, find_boxes(text))


# --------------------------------------------------------------------------- numbers


def last_number(text: str) -> str | None:
    """The last number written in ``text`` (thousands separators allowed), or ``None``.

    Only the end of the text is searched first, so the cost does not grow with the text.
    """
    n = len(text)
    last = None
    for window in (1024, 16384, n):
        lo = max(0, n - window)
        while lo > 0 and (text[lo - 1].isdigit() or text[lo - 1] in ",.-"):
            lo -= 1  # do not start inside a number
        for m in _NUMBER_RE.finditer(text, lo):
            last = m
        if last is not None or lo == 0:
            break
    if last is None:
        return None
    # "... is 3 1/4 cups": a trailing plain-text mixed number is kept whole (3 + 1/4).
    start = max(0, last.start() - 24)
    for m in _MIXED_TEXT_RE.finditer(text, start, last.end() + 1):
        if m.end() == last.end() and int(m.group(2)) < int(m.group(3)):
            return m.group(0)
    return last.group(0).rstrip(",")


def _hash_answer(text: str) -> str | None:
    idx = text.rfind("####")
    if idx == -1:
        return None
    tail = text[idx + 4 : idx + 4 + 400].strip().split("\n", 1)[0].strip()
    return tail or None


# --------------------------------------------------------------------------- entry points


def extract_pred(response: str, dataset_type: str) -> str | None:
    """Extract the final answer from a model response (``None`` when there is none)."""
    check_dataset_type(dataset_type)
    if not isinstance(response, str) or not response.strip():
        return None
    response = cut_chat_turns(_cap(response))
    boxes = find_boxes(response)
    phrase_m = last_phrase(response)
    rev_m = reversed_phrase(response)
    if boxes:
        if phrase_m is not None and phrase_m.start() > boxes[-1].end:
            tail = phrase_tail(response, phrase_m)
            if usable_over_box(response, phrase_m, tail):
                return _gsm8k_from_phrase(tail) if dataset_type == "gsm8k" and tail else tail
        if rev_m is not None and rev_m.start() > boxes[-1].end:
            return reversed_value(rev_m)  # "... $\\boxed{11}=2$ ... Therefore, $6$ is our answer."
        boxed = _boxes_answer(response, boxes)
        if boxed:
            return boxed
    hashed = _hash_answer(response)
    if hashed:
        return hashed
    if rev_m is not None and (phrase_m is None or rev_m.start() > phrase_m.start()):
        return reversed_value(rev_m)
    phrase = phrase_tail(response, phrase_m) if phrase_m is not None else None
    if phrase:
        if dataset_type == "gsm8k":
            return _gsm8k_from_phrase(phrase)
        return phrase
    if _NO_ANSWER_RE.search(response[-300:]):
        return None  # "... so I cannot determine the answer.": no answer stated
    if dataset_type == "gsm8k":
        return last_number(response)
    text = response.strip()
    if len(text) <= _BARE_MAX and "\n" not in text and "box" not in text:
        # A response that is nothing but an answer ("$\\frac{1}{2}$"), unless it is a short
        # sentence around a math span ("Hence $a+b=7$.") or prose around a number ("it's 12").
        outside = outside_spans(text)
        if outside != text and re.search(r"[A-Za-z]{2,}", outside):
            return last_math_span(text) or text
        if has_prose(outside):
            return closing_sentence(text) or last_prose_number(text) or text
        return text
    closing = closing_sentence(text)
    if closing:
        return closing
    # Last resort: the last math span near the end ("... the probability is $\\frac{15}{36} =
    # \\frac{5}{12}$."), reduced to the right-most side of its "=" chain.
    return last_math_span(text)


def _gsm8k_from_phrase(phrase: str) -> str | None:
    """Reduce a GSM8K answer phrase to its number when it is wordy ("$18 per day" -> "18")."""
    if not re.search(r"[A-Za-z]{2,}", re.sub(r"\\[a-zA-Z]+", "", phrase)) and "=" not in phrase:
        return phrase  # "1,234", "$18.00", "3 1/4", "\frac{1}{2}": no words to drop
    if "=" in phrase:
        phrase = phrase.rsplit("=", 1)[1]
        return last_number(phrase) or phrase.strip() or None
    m = _NUMBER_RE.search(phrase)
    if m is None:
        return phrase
    mixed = _MIXED_TEXT_RE.match(phrase, m.start())
    if mixed and int(mixed.group(2)) < int(mixed.group(3)):
        return mixed.group(0)  # "3 1/4 cups" -> "3 1/4"
    return m.group(0).rstrip(",")


def extract_gold(gold: str, dataset_type: str) -> str | None:
    """Bare final answer from either a bare answer or a full reference solution."""
    check_dataset_type(dataset_type)
    if not isinstance(gold, str):
        gold = "" if gold is None else str(gold)
    text = _cap(gold.strip())
    if not text:
        return None
    hashed = _hash_answer(text) if "####" in text else None
    if dataset_type == "gsm8k" and hashed:
        return hashed
    boxes = find_boxes(text)
    if len(boxes) >= 2 and not _PROSE_RUN_RE.search(_outside_boxes(text, boxes)):
        # A bare answer written as several boxes ("\\boxed{35} ; \\boxed{4}"): one list.
        parts: list[str] = []
        for box in _top_level(boxes):
            c = box.content(text)
            if c and c not in parts:
                parts.append(c)
        if parts:
            return ", ".join(parts)
    boxed = _boxes_answer(text, boxes)
    if boxed:
        return boxed
    if hashed:
        return hashed
    unclosed = _UNCLOSED_BOX_RE.match(text)
    if unclosed and "\n" not in text:
        # A bare reference answer whose box never closes ("\\boxed{W(n) = 1"): its content.
        return text[unclosed.end() :].strip() or None
    if "\n" in text or len(text) > 200:
        # A solution without markers: fall back to the response rules.
        phrase = phrase_tail(text)
        if phrase:
            return phrase
        if dataset_type == "gsm8k":
            return last_number(text)
    return text
