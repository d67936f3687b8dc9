"""The ``math-verify`` grader: Hugging Face's rule-based verifier, for comparison.

The library is imported lazily so the rest of the grader works without it. Its own timeout
uses ``signal.alarm``, which only works in the main thread; from other threads the timeouts
are disabled here (that is the library's limitation, documented in docs/grading.md).
"""

from __future__ import annotations

import threading

from selfimprove.core.errors import UsageError

__all__ = ["mathverify_grade", "MathVerifyMissing"]


class MathVerifyMissing(UsageError, ImportError):
    """Raised when the ``math-verify`` grader is requested but the package is absent."""


_LIB = None


def _lib():
    global _LIB
    if _LIB is None:
        try:
            from math_verify import parse, verify
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise MathVerifyMissing(
                "the 'math-verify' grader needs the math-verify package: pip install 'math-verify==0.9.0'"
            ) from exc
        _LIB = (parse, verify)
    return _LIB


def mathverify_grade(response: str, gold: str) -> tuple[str | None, bool]:
    """``(pred, correct)`` as math-verify decides them; never raises except when missing."""
    parse, verify = _lib()
    main = threading.current_thread() is threading.main_thread()
    kw = {} if main else {"parsing_timeout": None}
    vkw = {} if main else {"timeout_seconds": None}
    try:
        gold_parsed = []
        if "\\boxed" not in gold and "$" not in gold and "####" not in gold and "\n" not in gold:
            # A bare answer: present it as math, as the library's documentation recommends.
            gold_parsed = parse("$" + gold.strip() + "$", **kw)
        if not gold_parsed:
            gold_parsed = parse(gold, **kw)
        pred_parsed = parse(response, **kw)
    except Exception:
        return None, False
    pred = str(pred_parsed[1]) if len(pred_parsed) > 1 else (str(pred_parsed[0]) if pred_parsed else None)
    try:
        ok = bool(verify(gold_parsed, pred_parsed, **vkw))
    except Exception:
        ok = False
    return pred, ok
