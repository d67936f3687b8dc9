#!/usr/bin/env python3
"""Place the paper's released feedback examples into ``<data folder>/mathcritique-samples/``.

The authors released 100 GSM8K and 100 MATH critique->refinement examples (LLaMA-Factory alpaca
rows). This script copies them from a local folder (``--from DIR``) or downloads them from URLs
you give (``--url``), checks that each is a non-empty JSON array of alpaca rows (``instruction``
and ``output`` non-empty strings, ``input`` a string), and writes each file atomically under its
expected name, byte for byte as received::

    gsm8k-critique-refine-100.json   (upstream name: Meta-Llama-3-8B-gsm8k-sftdata_0_new.json)
    math-critique-refine-100.json    (upstream name: Meta-Llama-3-8B-math-sftdata_0_new.json)

Examples::

    python scripts/fetch_feedback.py --from ~/MathCritique/selfimprove/meta-llama
    python scripts/fetch_feedback.py --url https://example.org/samples/            # folder URL
    python scripts/fetch_feedback.py --url gsm8k=https://.../a.json --url math=https://.../b.json

The destination is ``$DATA_DIR/mathcritique-samples`` (default: the project's ``data/``), or
``--dest DIR``. A file already there with other content is only replaced with ``--force``.
"""

from __future__ import annotations

import argparse
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selfimprove.core.config import env_data_folder  # noqa: E402
from selfimprove.core.io import atomic_write_bytes  # noqa: E402
from selfimprove.data.feedback import FeedbackError, parse_feedback  # noqa: E402
from selfimprove.data.paths import FEEDBACK_FILES, FEEDBACK_SUBDIR  # noqa: E402

UPSTREAM_NAMES = {
    "gsm8k": "Meta-Llama-3-8B-gsm8k-sftdata_0_new.json",
    "math": "Meta-Llama-3-8B-math-sftdata_0_new.json",
}
EXPECTED_ROWS = 100
MAX_BYTES = 64 << 20  # a released file is about 0.3 MB; refuse anything absurd
TIMEOUT_S = 60


def _type_of_name(name: str) -> str | None:
    low = name.lower()
    if "gsm8k" in low:
        return "gsm8k"
    if "math" in low:
        return "math"
    return None


def _from_dir(folder: Path, types: list[str]) -> dict[str, tuple[str, bytes]]:
    """type -> (source, bytes) for each type whose file (either naming) is in ``folder``."""
    if not folder.is_dir():
        raise FeedbackError(f"{folder}: not a folder")
    found = {}
    for t in types:
        for name in (FEEDBACK_FILES[t], UPSTREAM_NAMES[t]):
            path = folder / name
            if path.is_file():
                if path.stat().st_size > MAX_BYTES:
                    raise FeedbackError(f"{path}: larger than {MAX_BYTES:,} bytes")
                found[t] = (str(path), path.read_bytes())
                break
    return found


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            data = resp.read(MAX_BYTES + 1)
    except (OSError, ValueError) as e:
        raise FeedbackError(f"{url}: cannot download ({e})") from None
    if len(data) > MAX_BYTES:
        raise FeedbackError(f"{url}: larger than {MAX_BYTES:,} bytes")
    return data


def _from_urls(urls: list[str], types: list[str]) -> dict[str, tuple[str, bytes]]:
    """``TYPE=URL``, a URL of a .json file (type from its name), or a folder URL (both names)."""
    found: dict[str, tuple[str, bytes]] = {}
    for spec in urls:
        head, eq, rest = spec.partition("=")
        if eq and head in FEEDBACK_FILES and "://" in rest:
            t, url = head, rest
        elif spec.split("?")[0].endswith(".json"):
            url = spec
            found_type = _type_of_name(spec.split("?")[0].rsplit("/", 1)[-1])
            if found_type is None:
                raise FeedbackError(f"{spec}: cannot tell gsm8k from math by the name; write gsm8k=URL or math=URL")
            t = found_type
        else:
            base = spec if spec.endswith("/") else spec + "/"
            for t in types:
                errors = []
                for name in (FEEDBACK_FILES[t], UPSTREAM_NAMES[t]):
                    try:
                        found[t] = (base + name, _download(base + name))
                        break
                    except FeedbackError as e:
                        errors.append(str(e))
                else:
                    raise FeedbackError("; ".join(errors))
            continue
        if t in types:
            found[t] = (url, _download(url))
    return found


def place(found: dict[str, tuple[str, bytes]], dest: Path, force: bool) -> list[str]:
    """Check every file first, then write each atomically; returns one line per file."""
    checked = {t: (src, data, parse_feedback(data, src)) for t, (src, data) in found.items()}
    lines = []
    for t, (src, data, rows) in checked.items():
        target = dest / FEEDBACK_FILES[t]
        note = "" if len(rows) == EXPECTED_ROWS else f" (note: {len(rows)} rows, the release has {EXPECTED_ROWS})"
        if target.is_file() and target.read_bytes() == data:
            lines.append(f"{t}: {target} already in place ({len(rows)} rows){note}")
            continue
        if target.exists() and not force:
            raise FeedbackError(f"{target} exists with other content; pass --force to replace it")
        atomic_write_bytes(target, data)
        lines.append(f"{t}: {len(rows)} rows from {src} -> {target}{note}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--from", dest="from_dir", type=Path, help="a local folder holding the released files")
    src.add_argument("--url", action="append", help="URL of a file (TYPE=URL or a name with gsm8k/math) or folder")
    ap.add_argument("--types", nargs="+", choices=sorted(FEEDBACK_FILES), default=sorted(FEEDBACK_FILES))
    ap.add_argument(
        "--dest", type=Path, default=None, help="destination folder (default: DATA_DIR/mathcritique-samples)"
    )
    ap.add_argument("--force", action="store_true", help="replace files that exist with other content")
    args = ap.parse_args(argv)
    dest = args.dest if args.dest is not None else env_data_folder() / FEEDBACK_SUBDIR
    try:
        found = _from_dir(args.from_dir.expanduser(), args.types) if args.from_dir else _from_urls(args.url, args.types)
        missing = [t for t in args.types if t not in found]
        if missing:
            names = ", ".join(f"{FEEDBACK_FILES[t]} or {UPSTREAM_NAMES[t]}" for t in missing)
            raise FeedbackError(f"not found for {', '.join(missing)}: expected {names}")
        for line in place(found, dest, args.force):
            print(line)
    except FeedbackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
