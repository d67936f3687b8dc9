"""Answer phrases and closing sentences: where a response states its answer in words.

* "The answer is ...", "Final answer: ...", "Answer: ..." (``last_phrase``, ``phrase_tail``);
  a closing sentence after such a phrase is reduced to its value ("Final Answer: The smallest
  $k$ is 12." -> ``12``; "Final Answer: Jane started 3 hours ago." -> ``3``);
* "$6$ is our answer" (``reversed_phrase``): the value written before the phrase;
* the response's last sentence ("... so the total is 41.", "Therefore, the error increases by
  100%."), sign-offs such as "I hope it is correct." skipped (``closing_sentence``);
* ``cut_chat_turns``: a chat model that did not stop writes the next turn after a template
  marker (``<|im_start|>``, ``<|eot_id|>``, ``</s>``...); only the text before it is read.

Every regular expression here is linear (possessive quantifiers where a number is scanned) and
every scan is bounded to the end of the text.
"""

from __future__ import annotations

import re

from .spans import SPAN_RE, rightmost_side

__all__ = [
    "cut_chat_turns",
    "last_phrase",
    "phrase_tail",
    "usable_over_box",
    "closing_sentence",
    "reversed_phrase",
    "reversed_value",
    "has_prose",
    "last_prose_number",
    "outside_spans",
]

# Phrases that introduce a final answer. Matched case-insensitively; the last one wins.
_PHRASE_RE = re.compile(r"\banswer(?:\s+is\b|\s*(?:\*+\s*)?[:：])[\s*:：]*", re.IGNORECASE)
# The verb of a closing sentence: "the smallest $k$ is 12", "the total equals 41".
_VERB_RE = re.compile(r"\s(?:is|are|equals|was|becomes|be)\s+|\s=\s*", re.IGNORECASE)
_VAGUE_TAIL = frozenset(
    "above below boxed shown follows correct incorrect right wrong verified confirmed valid consistent same".split()
)
# Chat-template markers: a model that did not stop writes the next turn after them
# ("... so the answer is 5/7. <|im_start|>user ..."); only the text before them is its answer.
_TURN_RE = re.compile(
    r"<\|(?:im_start|im_end|endoftext|end_of_text|eot_id|eom_id|start_header_id|end_header_id|end|user|assistant"
    r"|system)\|>|<｜(?:end▁of▁sentence|User|Assistant)｜>|</s>"
)
_ROLE_LINE_RE = re.compile(r"^\s*(?:assistant|model)\s*\n")
# "$6$ is our answer", "so 12 is the final answer": the value comes before the phrase.
_REVERSED_PHRASE_RE = re.compile(
    r"(\$[^$\n]{1,120}\$|\\\((?:(?!\\\)).){1,120}\\\)|(?<![\w.,])-?\d[\d,]*+(?:\.\d+)?+%?)"
    r"\s+(?:is|was|would be)\s+(?:our|the)\s+(?:final\s+)?answer\b",
    re.IGNORECASE,
)
# Sentence ends: ". ", "! ", "? ", and the end of display math ("$$ Therefore, ...").
_SENTENCE_SPLIT_RE = re.compile(r"(?:(?<=[.!?])|(?<=[.!?]\$)|(?<=\$\$)|(?<=\\\]))\s+(?=[A-Z])")
# Sign-off sentences that follow an answer ("I hope it is correct.").
_SIGN_OFF_RE = re.compile(
    r"^(?:I hope|Hope (?:this|it)|Let me know|Feel free|Thank you|Thanks|Please let|If you have|Note:)", re.IGNORECASE
)
_CONCLUSION_RE = re.compile(
    r"^(?:Therefore|Thus|Hence|So|Finally|In conclusion|In total|Altogether|Overall|Consequently)\b", re.IGNORECASE
)
# A number written in prose: "3 hours", "100%", "$1,200"; not glued inside a word.
_PROSE_NUMBER_RE = re.compile(r"(?<![A-Za-z\d.,])-?\d[\d,]*+(?:\.\d+)?+%?(?!\d|(?:st|nd|rd|th)\b)")
_OPEN_QUOTE_RE = re.compile(r'^(?:\\?"|“)\s*')
_CLOSE_QUOTE_RE = re.compile(r'\s*(?:\\?"|”)$')
_LEADING_VALUE_RE = re.compile(r"^(\$[^$]{1,80}\$|\\\((?:(?!\\\)).){1,80}\\\)|-?\d[\d,]*+(?:\.\d+)?+%?)\s+[A-Za-z]{2,}")
# Words of prose in a one-line answer (LaTeX commands and function names are not prose).
_PROSE_WORD_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}(?![A-Za-z]*\()")
_ENV_RE = re.compile(r"\\(?:begin|end)\s*\{[^{}]*\}")
_MATH_WORDS = frozenset(
    "sqrt frac pi sin cos tan cot sec csc log ln exp arcsin arccos arctan sinh cosh tanh max min gcd lcm mod "
    "infty cdot times div and or".split()
)


def cut_chat_turns(text: str) -> str:
    """The text before the first chat-template marker that follows some content.

    A chat model that did not stop writes the next turn after ``<|im_start|>``,
    ``<|eot_id|>``, ``</s>``...; that continuation is not part of its answer. A marker at the
    very start (a template echo: ``<|im_start|>assistant``) is skipped over.
    """
    if "<" not in text:
        return text
    pos = 0
    for m in _TURN_RE.finditer(text):
        before = _ROLE_LINE_RE.sub("", text[pos : m.start()])
        if before.strip():
            return before
        pos = m.end()
    if pos:
        return _ROLE_LINE_RE.sub("", text[pos:])
    return text


def last_phrase(text: str) -> re.Match | None:
    last = None
    for m in _PHRASE_RE.finditer(text):
        last = m
    return last


def outside_spans(s: str) -> str:
    return SPAN_RE.sub(" ", s)


def _closing_value(sentence: str) -> str | None:
    """What follows the last verb of a closing sentence ("the smallest $k$ is 12" -> "12").

    Only a verb outside math spans counts; a value that is one math span is reduced to the
    right-most side of its ``=`` chain, and a value followed by prose is reduced to the value
    ("there are 12 distinct sequences that work" -> "12").
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
    lead = _LEADING_VALUE_RE.match(value)
    if lead and len(re.findall(r"[A-Za-z]{2,}", SPAN_RE.sub(" ", value[lead.end(1) :]))) >= 3:
        value = lead.group(1)
        span = SPAN_RE.fullmatch(value)
        if span:
            return rightmost_side(next(g for g in span.groups() if g is not None).strip())
    return value or None


def _sole_value(sentence: str) -> str | None:
    """The one value a sentence of prose states: its only math span, else its only number.

    "Jane started growing Sphere 3 hours ago" -> "3"; a sentence with two values states none.
    """
    spans = list(SPAN_RE.finditer(sentence))
    outside = SPAN_RE.sub(" ", sentence)
    numbers = _PROSE_NUMBER_RE.findall(outside)
    if len(spans) == 1 and not numbers:
        m = spans[0]
        return rightmost_side(next(g for g in m.groups() if g is not None).strip())
    if not spans and len(numbers) == 1:
        return numbers[0].rstrip(",")
    return None


def has_prose(text: str) -> bool:
    """Whether ``text`` holds a word of prose (not a LaTeX command, environment or function name)."""
    text = _ENV_RE.sub(" ", text)
    return any(w.lower() not in _MATH_WORDS for w in _PROSE_WORD_RE.findall(text))


def last_prose_number(text: str) -> str | None:
    found = _PROSE_NUMBER_RE.findall(outside_spans(text))
    return found[-1].rstrip(",") if found else None


def phrase_tail(text: str, m: re.Match | None = None) -> str | None:
    """Answer text after the final answer phrase, cut at the end of its line/sentence."""
    if m is None:
        m = last_phrase(text)
    if m is None:
        return None
    tail = text[m.end() : m.end() + 4000].lstrip(" \t:*")
    tail = _OPEN_QUOTE_RE.sub("", tail)
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
    line = _CLOSE_QUOTE_RE.sub("", line.strip().strip("*").strip()).strip()
    if line.startswith("$") and line.endswith("$") and len(line) > 1 and line.count("$") == 2:
        line = line[1:-1]
    line = line.strip()
    if not line:
        return None
    # "Final Answer: The smallest $k$ is 12." -> "12"; "Final Answer: Jane started growing
    # Sphere 3 hours ago." -> "3".
    if re.match(r"[A-Za-z]{2,}", line):
        reduced = _closing_value(" " + line)
        if reduced is None and has_prose(outside_spans(line)):
            reduced = _sole_value(line)
        if reduced:
            return reduced
    return line


def usable_over_box(text: str, m: re.Match, tail: str | None) -> bool:
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


def closing_sentence(text: str) -> str | None:
    """The value stated by the response's last sentence ("... so the total is 41.").

    Sign-offs after it ("I hope it is correct.") are skipped; a concluding sentence without a
    verb states its only value ("Therefore, the error increases by 100%." -> "100%").
    """
    tail = text[-600:].rstrip()
    line = tail.rsplit("\n", 1)[-1]
    sentences = _SENTENCE_SPLIT_RE.split(line)
    while len(sentences) > 1 and _SIGN_OFF_RE.match(sentences[-1].strip()):
        sentences.pop()
    sentence = sentences[-1].strip()
    if _SIGN_OFF_RE.match(sentence):
        return None
    value = _closing_value(" " + sentence)
    if value is None and _CONCLUSION_RE.match(sentence):
        value = _sole_value(sentence.rstrip(".!"))
    if value is None or len(value) > 40 or not re.match(r"[-+\d$\\(]", value):
        return None
    return value


def reversed_phrase(text: str) -> re.Match | None:
    """The last "<value> is our answer" / "<value> is the final answer" of ``text``."""
    last = None
    for m in _REVERSED_PHRASE_RE.finditer(text, max(0, len(text) - 4000)):
        last = m
    return last


def reversed_value(m: re.Match) -> str:
    value = m.group(1)
    if value.startswith("$"):
        return value[1:-1].strip()
    if value.startswith("\\("):
        return value[2:-2].strip()
    return value
