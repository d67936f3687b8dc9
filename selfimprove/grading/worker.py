"""Worker process for the symbolic layer: ``python -m selfimprove.grading.worker``.

Reads JSON lines ``[a, b]`` from stdin and answers each with ``true``/``false`` on stdout
(after a first ``ready`` line once the heavy libraries are imported). Address space is
capped so a runaway expression fails with ``MemoryError`` instead of exhausting the host;
time is bounded by the parent, which kills the process when it overruns.
"""

from __future__ import annotations

import json
import sys

MEMORY_LIMIT = 2 * 1024**3  # bytes of address space


def main() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except Exception:  # pragma: no cover - platform without RLIMIT_AS
        pass
    sys.setrecursionlimit(5000)
    from selfimprove.grading import symbolic

    symbolic.warm_up()
    out = sys.stdout.buffer
    out.write(b"ready\n")
    out.flush()
    for line in sys.stdin.buffer:
        try:
            a, b = json.loads(line)
            result = bool(symbolic.symbolic_equal(str(a), str(b)))
        except BaseException:  # noqa: BLE001 - MemoryError, RecursionError, bad input
            result = False
        out.write(b"true\n" if result else b"false\n")
        out.flush()


if __name__ == "__main__":
    main()
