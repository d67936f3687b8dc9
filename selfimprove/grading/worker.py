"""Worker process for the symbolic layer: ``python -m selfimprove.grading.worker``.

Reads JSON lines ``[a, b, cpu_budget]`` from stdin and answers each with one JSON line
``{"r": true|false|null, "s": status, "cpu": seconds}`` on stdout (after a first ``ready`` line
once the heavy libraries are imported). ``status`` is ``ok``, ``timeout`` (the CPU budget ran
out: ``ITIMER_PROF`` counts this process's CPU time, so a busy machine does not shorten it) or
``error:<ExceptionKind>`` (``MemoryError``, ``RecursionError``...). Address space is capped so a
runaway expression fails with ``MemoryError`` instead of exhausting the host; the parent also
watches this process's CPU clock and kills it if it overruns (stuck in C code).
"""

from __future__ import annotations

import json
import signal
import sys
import time

MEMORY_LIMIT = 2 * 1024**3  # bytes of address space


class _OutOfBudget(BaseException):
    """Raised by the CPU-time timer; a ``BaseException`` so that ``except Exception`` cannot eat it."""


def _on_timer(signum, frame):  # pragma: no cover - runs in the worker
    raise _OutOfBudget


def _bounded(fn, a: str, b: str, budget: float) -> bool:
    signal.setitimer(signal.ITIMER_PROF, max(0.001, budget))
    try:
        return bool(fn(a, b))
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


def serve() -> None:
    """Answer the requests read from stdin, one JSON line each, until stdin closes."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except Exception:  # pragma: no cover - platform without RLIMIT_AS
        pass
    sys.setrecursionlimit(5000)
    from selfimprove.grading import symbolic

    symbolic.warm_up()
    signal.signal(signal.SIGPROF, _on_timer)
    out = sys.stdout.buffer
    out.write(b"ready\n")
    out.flush()
    for line in sys.stdin.buffer:
        t0 = time.process_time()
        result: bool | None = None
        try:
            a, b, budget = json.loads(line)
            result, status = _bounded(symbolic.symbolic_equal, str(a), str(b), float(budget)), "ok"
        except _OutOfBudget:
            status = "timeout"
        except BaseException as exc:  # noqa: BLE001 - MemoryError, RecursionError, bad request
            status = f"error:{type(exc).__name__}"
        reply = {"r": result, "s": status, "cpu": round(time.process_time() - t0, 6)}
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    serve()
