"""Answer extraction from model responses and reference solutions.

Every scan here is linear in the length of the text (regular expressions without nested
quantifiers, one brace pass in :mod:`.latex`), and a response longer than
``MAX_RESPONSE_CHARS`` is read from its last ``MAX_RESPONSE_CHARS`` characters only (answers
are at the end), so no input can make extraction slow.

Extraction order for a response (``extract_pred``):

1. ``\\boxed{...}`` / ``\\fbox{...}``: the last well-formed box. Boxes written next to it,
   separated only by connectors (``,``, ``and``, ``or``, ``;``, ``x =``), are one answer
   each and are read together as a list (``\\boxed{3}`` and ``\\boxed{-4}`` -> ``3, -4``).
   A final-answer phrase written *after* the last box wins over it (the box was intermediate);
2. GSM8K's ``#### N`` marker (the last one);
3. the last answer phrase: "The answer is ...", "final answer is ...", "Answer: ...". A
   closing sentence after the phrase is reduced to what follows its last "is"/"equals"
   ("Final Answer: The smallest $k$ is 12." -> ``12``);
4. for GSM8K-type data only, the last number in the text (a number glued inside a word, as
   in ``QX7B3``, is not a number);
5. for MATH-type data only: a marker-less one-line response is the answer itself; a closing
   sentence "... so the total is 41." gives what follows its verb; as the last resort, the
   last math span (``$...$``, ``\\(...\\)``, ``\\[...\\]``) near the end of the response,
   reduced to the right-most side of its ``=`` chain.

For the reference side (``extract_gold``) a bare final answer is returned as is, while a
full reference solution is reduced with the same markers (MATH ``\\boxed{}``, GSM8K ``#### N``).
"""

from __future__ import annotations

import re

from .latex import Box, find_boxes, find_last_boxed
from .spans import SPAN_RE, last_math_span, rightmost_side

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

# Phrases that introduce a final answer. Matched case-insensitively; the last one wins.
_PHRASE_RE = re.compile(r"\banswer(?:\s+is\b|\s*(?:\*+\s*)?[:：])[\s*:：]*", re.IGNORECASE)
_BARE_MAX = 80  # a marker-less math response this short is taken as the answer itself
# A number is not glued to a letter or another number on its left ("QX7B3" holds none).
_NUMBER_RE = re.compile(r"(?<![A-Za-z\d.,])(?:-?\d[\d,]*(?:\.\d+)?|-?\.\d+)")
_MIXED_TEXT_RE = re.compile(r"(?<![\d.,/])-?(\d{1,9}) (\d{1,9})/(\d{1,9})(?![\d/]|[.,]\d)")
# What may sit between two boxes that form one list answer: "$\boxed{3}$ and $\boxed{-4}$".
_BOX_GAP_RE = re.compile(
    r"(?:[\s$,;&]|\\[,;:! ]|\\q?quad\b|\\\\|\\text\{\s*(?:and|or|,)\s*\}|\b(?:and|or)\b"
    r"|[A-Za-z](?:_\{?\w{1,3}\}?)?\s*=)*",
    re.IGNORECASE,
)
_BOX_GAP_MAX = 60
# The verb of a closing sentence: "the smallest $k$ is 12", "the total equals 41".
_VERB_RE = re.compile(r"\s(?:is|are|equals|was|becomes|be)\s+|\s=\s*", re.IGNORECASE)
_NO_ANSWER_RE = re.compile(
    r"\b(?:cannot|can't|can not|unable to|impossible to) (?:be )?(?:determine|determined|find|found|answer|solve)"
    r"|\bnot enough information\b",
    re.IGNORECASE,
)
_VAGUE_TAIL = frozenset(
    "above below boxed shown follows correct incorrect right wrong verified confirmed valid consistent same".split()
)


def check_dataset_type(dataset_type: str) -> str:
    """Return ``dataset_type`` if it is supported, else raise ``ValueError``."""
    if dataset_type not in DATASET_TYPES:
        raise ValueError(f"unknown dataset_type {dataset_type!r}: expected one of {', '.join(DATASET_TYPES)}")
    return dataset_type


def _cap(text: str) -> str:
    return text if len(text) <= MAX_RESPONSE_CHARS else text[-MAX_RESPONSE_CHARS:]


# --------------------------------------------------------------------------- boxes


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
        if _BOX_GAP_RE.fullmatch(gap) is None or gap.count("\n") > 2:
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


# --------------------------------------------------------------------------- phrases


def _last_phrase(text: str) -> re.Match | None:
    last = None
    for m in _PHRASE_RE.finditer(text):
        last = m
    return last


def _outside_spans(s: str) -> str:
    return SPAN_RE.sub(" ", s)


def _closing_value(sentence: str) -> str | None:
    """What follows the last verb of a closing sentence ("the smallest $k$ is 12" -> "12").

    Only a verb outside math spans counts; a value that is one math span is reduced to the
    right-most side of its ``=`` chain.
    """
    masked = SPAN_RE.sub(lambda m: "\0" * len(m.group(0)), sentence)
    if not re.search(r"[A-Za-z]{2,}", masked):
        return None
    last = None
    for m in _VERB_RE.finditer(masked):
        last = m
    if last is None:
        return None
    value = sentence[last.end() :].strip().rstrip(".,;!").strip()
    if not value or len(value) > 120:
        return None
    span = SPAN_RE.fullmatch(value)
    if span:
        return rightmost_side(next(g for g in span.groups() if g is not None).strip())
    return value or None


def _phrase_tail(text: str, m: re.Match | None = None) -> str | None:
    """Answer text after the final answer phrase, cut at the end of its line/sentence."""
    if m is None:
        m = _last_phrase(text)
    if m is None:
        return None
    tail = text[m.end() : m.end() + 4000].lstrip(" \t:*")
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
    end_m = re.search(r"\.(?:\s|$)", line)
    if end_m:
        line = line[: end_m.start()]
    line = line.strip().strip("*").strip()
    if line.startswith("$") and line.endswith("$") and len(line) > 1 and line.count("$") == 2:
        line = line[1:-1]
    line = line.strip()
    if not line:
        return None
    # "Final Answer: The smallest $k$ is 12." -> "12".
    reduced = _closing_value(" " + line) if re.match(r"[A-Za-z]{2,}", line) else None
    return reduced or line


def _usable_over_box(text: str, m: re.Match, tail: str | None) -> bool:
    """Whether a final-answer phrase written after the last box states an answer of its own.

    Only "final answer ...", "the answer is ..." and "Answer: ..." count ("so our answer is
    correct" does not), and the tail must hold a value, not a remark about the box.
    """
    if not tail or "box" in tail:
        return False
    lead = text[max(0, m.start() - 6) : m.start()].lower()
    if not (lead.endswith(("final ", "the ")) or ":" in m.group(0) or "：" in m.group(0)):
        return False
    words = re.findall(r"[A-Za-z]+", tail.lower())
    if any(w in _VAGUE_TAIL for w in words):
        return False
    return bool(re.search(r"[\d\\$]", tail)) or len(words) <= 2


def _hash_answer(text: str) -> str | None:
    idx = text.rfind("####")
    if idx == -1:
        return None
    tail = text[idx + 4 : idx + 4 + 400].strip().split("\n", 1)[0].strip()
    return tail or None


def _closing_sentence(text: str) -> str | None:
    """The value stated by the response's last sentence ("... so the total is 41.")."""
    tail = text[-600:].rstrip()
    line = tail.rsplit("\n", 1)[-1]
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", line)
    value = _closing_value(" " + sentences[-1])
    if value is None or len(value) > 40 or not re.match(r"[-+\d$\\(]", value):
        return None
    return value


# --------------------------------------------------------------------------- entry points


def extract_pred(response: str, dataset_type: str) -> str | None:
    """Extract the final answer from a model response (``None`` when there is none)."""
    check_dataset_type(dataset_type)
    if not isinstance(response, str) or not response.strip():
        return None
    response = _cap(response)
    boxes = find_boxes(response)
    phrase_m = _last_phrase(response)
    if boxes:
        if phrase_m is not None and phrase_m.start() > boxes[-1].end:
            tail = _phrase_tail(response, phrase_m)
            if _usable_over_box(response, phrase_m, tail):
                return _gsm8k_from_phrase(tail) if dataset_type == "gsm8k" and tail else tail
        boxed = _boxes_answer(response, boxes)
        if boxed:
            return boxed
    hashed = _hash_answer(response)
    if hashed:
        return hashed
    phrase = _phrase_tail(response, phrase_m) if phrase_m is not None else None
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
        # sentence around a math span ("Hence $a+b=7$.").
        outside = _outside_spans(text)
        if outside != text and re.search(r"[A-Za-z]{2,}", outside):
            return last_math_span(text) or text
        if re.search(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}", outside):
            return _closing_sentence(text) or text
        return text
    closing = _closing_sentence(text)
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
    boxed = boxed_answer(text)
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
