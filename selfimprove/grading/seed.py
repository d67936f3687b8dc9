"""The ``mathcritique`` grader: the paper's released answer logic, reproduced like for like.

The released pipeline (``selfimprove/process.py`` + ``compare_answer`` in its inference and
test scripts) works as follows, and this module follows it step by step so that accuracies
can be reproduced exactly:

* gold: GSM8K ``#### N`` (commas removed) or the last ``\\boxed{}`` of a MATH solution passed
  through ``answer_process``;
* response: the text after the first "The answer is"; inside it the last ``\\boxed{}``, else
  (GSM8K) the first run of ``[-digits.,]``, a trailing period dropped, then ``answer_process``;
  any exception while doing so yields the (cut) response text itself;
* decision: equal strings, or equal values of ``eval`` on strings made only of digits,
  whitespace, ``+-*/().``.

Differences, all deliberate and documented:

* ``eval`` is replaced by :func:`safe_arith_eval`, which parses with :mod:`ast` and computes
  the same Python values (ints, floats, true/floor division, ``**``) but refuses results
  that would be astronomically large (``9**9**9**9``), which the original hangs on;
* a bare gold answer (no ``####``/``\\boxed``) is accepted as if it had been marked;
* an exception while processing the gold answer counts as "no gold" instead of crashing.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from typing import Any

from selfimprove.core.errors import GradingError

__all__ = [
    "answer_process",
    "extract_boxed_content",
    "seed_extract_gold",
    "seed_extract_response",
    "safe_arith_eval",
    "seed_compare",
]


# --------------------------------------------------------------------------- answer_process


def _fix_fracs(string: str) -> str:
    """``\\frac12`` -> ``\\frac{1}{2}``; ``\\frac1{2}`` -> ``\\frac{1}{2}`` (released semantics)."""
    parts = string.split("\\frac")
    out = parts[0]
    for part in parts[1:]:
        out += "\\frac"
        if part and part[0] == "{":
            out += part
            continue
        if len(part) < 2:
            return string
        first, second, rest = part[0], part[1], part[2:]
        if second != "{":
            out += "{" + first + "}{" + second + "}" + rest
        else:
            out += "{" + first + "}" + second + rest
    return out


def _fix_a_slash_b(string: str) -> str:
    """``3/4`` -> ``\\frac{3}{4}`` when both sides are plain integers."""
    pieces = string.split("/")
    if len(pieces) != 2:
        return string
    a, b = pieces
    try:
        av = a if "sqrt" in a else int(a)
        bv = b if "sqrt" in b else int(b)
        if string != f"{av}/{bv}":
            return string
        return "\\frac{" + str(av) + "}{" + str(bv) + "}"
    except (ValueError, TypeError):
        return string


def _space(string: str) -> str:
    """Remove spaces, keeping one after a LaTeX command that precedes a letter."""
    if " " not in string:
        return string
    words = [w for w in string.split(" ") if w != ""]
    out = ""
    for idx, word in enumerate(words):
        out += word
        if "\\" in word and idx + 1 < len(words) and words[idx + 1][0].isalpha():
            out += " "
    return out


def _unwrap_first(string: str, command: str, or_and: bool = False) -> str:
    """Handle the first ``\\command{...}`` the way the released code does (may raise)."""
    match: Any = re.search("\\\\" + command + r"{(.*?)}", string)
    inner = match[0].replace("}", "")  # TypeError when nothing matched, as released
    inner = inner.replace("\\" + command + "{", "")
    if or_and and inner in (" or ", ", and "):
        return string.replace(match[0], ",")
    if inner[0] == " ":  # IndexError on an empty wrapper, as released
        return string.replace(match[0], "")
    return string.replace(match[0], inner)


def answer_process(string):
    """Normalise an answer string exactly as the released ``answer_process`` does.

    May raise on some malformed inputs (e.g. ``\\text{}`` or a trailing ``_``), like the
    original; callers decide what an exception means.
    """
    if string is None:
        return None
    s = str(string).strip()
    s = s.replace("\\\\", "\\").replace("\\$", "").replace(",\\!", "").replace("\\!", "")
    s = s.replace("\\cdot", "").replace("\\%", "%").replace("\n", "")
    if "j" in s and "i" not in s:
        s = s.replace("j", "i")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\left", "").strip().replace("\\right", "").strip()
    s = s.replace("^{\\circ}", "").strip().replace("^\\circ", "").strip()
    s = s.replace("{,}", "").replace("\\,", "")
    if "\\text{" in s:
        s = _unwrap_first(s, "text", or_and=True)
    for command in ("mbox", "textnormal", "mathbf"):
        if "\\" + command + "{" in s:
            s = _unwrap_first(s, command)
    s = _space(s)
    s = _fix_fracs(s)
    s = re.sub(r"\\sqrt(-?[0-9.a-zA-Z]+)", r"\\sqrt{\1}", s)
    s = re.sub(r"\\sqrt\s+(\w+)$", r"\\sqrt{\1}", s)
    s = re.sub(r"\\tan(-?[0-9.a-zA-Z]+)", r"\\tan{\1}", s)
    s = re.sub(r"\\tan\s+(\w+)$", r"\\tan{\1}", s)
    s = _fix_a_slash_b(s)
    try:
        s = s.strip()
        if s[0] == "." and any(c.isdigit() for c in s[1:]):
            s = "0" + s
        if s[0] == "(" and s[2] == ")" and s[1].isalpha():
            s = s[1]
        s = s.strip()
        if s[-1] in (",", ".", "\\"):
            s = s[:-1]
        s = s.strip()
    except IndexError:
        pass
    if "_" in s:
        pos = s.find("_")
        if s[pos + 1] != "{":  # IndexError on a trailing "_", as released
            s = s[: pos + 1] + "{" + s[pos + 1 :] + "}"
    if "pmatrix" in s:
        s = s.replace("\\phantom-", "").replace("\\", "\\\\")
        s = s.replace("\\\\begin", "\\begin").replace("\\\\end", "\\end")
        s = s.replace("\\\\frac", "\\frac").replace("\\\\sqrt", "\\sqrt")
    s = _space(s.strip())
    return str(s)


def extract_boxed_content(text: str):
    """Content of the last ``\\boxed{`` (plain brace counting), or ``None`` if unbalanced.

    This is the released code's brace counting (no escapes, no fallback to an earlier box),
    kept on purpose so that this grader reproduces the released numbers; the grader's own
    parser is :mod:`selfimprove.grading.latex`. The scan visits braces only (one regular
    expression), so it stays linear and fast on megabyte inputs.
    """
    start = text.rfind("\\boxed{")
    if start == -1:
        return None
    depth = 1
    begin = start + len("\\boxed{")
    for m in _BRACE_RE.finditer(text, begin):
        depth += 1 if m.group() == "{" else -1
        if depth == 0:
            return text[begin : m.start()]
    return None


_BRACE_RE = re.compile(r"[{}]")


# --------------------------------------------------------------------------- extraction

_GSM_GOLD_RE = re.compile(r"#### (-?[\d.,]+)")
_FIRST_NUM_RE = re.compile(r"(-?[\d.,]+)")


def seed_extract_gold(text: str, dataset_type: str):
    """Gold answer as the released ``extract_answer`` (plus bare-answer support)."""
    text = "" if text is None else str(text)
    if dataset_type == "gsm8k":
        if "####" not in text:
            text = "#### " + text.strip()
        m = _GSM_GOLD_RE.search(text)
        return m.group(1).replace(",", "") if m else None
    if "\\boxed{" not in text:
        text = "\\boxed{" + text.strip() + "}"
    try:
        return answer_process(extract_boxed_content(text))
    except Exception:
        return None


def seed_extract_response(text: str, dataset_type: str):
    """Predicted answer as the released ``extract_response``."""
    text = "" if text is None else str(text)
    pos = text.find("The answer is")
    if pos != -1:
        text = text[pos + len("The answer is") :]
    try:
        piece = extract_boxed_content(text)
        if piece is None:
            piece = text
            if dataset_type == "gsm8k":
                m = _FIRST_NUM_RE.search(piece)
                if m:
                    piece = m.group(1)
            if piece[-1] == ".":
                piece = piece[:-1]
        out = answer_process(piece)
        if dataset_type == "gsm8k":
            out = out.replace(",", "")
    except Exception:
        out = text
    return out


# --------------------------------------------------------------------------- safe eval

_ARITH_RE = re.compile(r"^[\d\s+\-*/().]*$")
_MAX_BITS = 1 << 20


class ArithmeticRefused(GradingError, ValueError):
    """Raised when an arithmetic string is not allowed or would be too large to compute."""


def _bits(v) -> float:
    if isinstance(v, bool) or not isinstance(v, int):
        return 0.0
    return float(abs(v).bit_length())


def _pow(base, exp):
    if isinstance(base, int) and isinstance(exp, int) and exp > 0 and abs(base) > 1:
        if exp * math.log2(abs(base)) > _MAX_BITS:
            raise ArithmeticRefused("power too large")
    return operator.pow(base, exp)


def _mul(a, b):
    if _bits(a) + _bits(b) > _MAX_BITS:
        raise ArithmeticRefused("product too large")
    if isinstance(a, tuple) or isinstance(b, tuple):
        n = b if isinstance(a, tuple) else a
        if isinstance(n, int) and n > 1 and (a or b):
            raise ArithmeticRefused("sequence repetition")
    return operator.mul(a, b)


_BINOPS: dict[type, Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: _mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: _pow,
}
_UNOPS: dict[type, Any] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _evaluate(node):
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and (isinstance(node.value, (int, float)) or node.value is Ellipsis):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNOPS:
        return _UNOPS[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.Tuple) and not node.elts:
        return ()
    if isinstance(node, ast.Call):
        raise TypeError("object is not callable")
    raise ArithmeticRefused(f"unsupported syntax: {type(node).__name__}")


def safe_arith_eval(expr: str):
    """Value Python's ``eval`` would give for a digits/``+-*/().`` string, computed safely.

    Raises ``ValueError`` for strings outside that alphabet (like the released
    ``safe_eval``), ``ArithmeticRefused`` for results that would be too large to compute,
    and the usual ``SyntaxError``/``ZeroDivisionError``/``OverflowError``/``TypeError``
    where ``eval`` raises them. Nothing is executed.
    """
    if not _ARITH_RE.match(expr):
        raise ValueError("not an equation or number")
    tree = ast.parse(expr.lstrip(" \t"), mode="eval")
    return _evaluate(tree)


def seed_compare(an, pred) -> bool:
    """The released decision: equal ``eval`` values or equal strings."""
    if an is None or pred is None:
        return False
    flag = False
    try:
        if safe_arith_eval(an) == safe_arith_eval(pred):
            flag = True
    except Exception:
        pass
    if an == pred:
        flag = True
    return flag
