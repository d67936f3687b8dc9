"""The one-player comparison table (Table 5 of the paper) from the rows' ``row.json`` files.

Writes ``--out``/``results.json`` (every row's greedy accuracy, Pass@K and MV@K per dataset, with
denominators, and each row's configuration) and ``--out``/``report.md`` (one table per dataset).
The rows must come from the same test questions.
"""

from __future__ import annotations

import sys
from pathlib import Path

from selfimprove.core.cli import parser
from selfimprove.core.io import RecordError, atomic_write_json, atomic_write_text, read_json
from selfimprove.core.layout import RunLayout
from selfimprove.selftalk.table import comparison, markdown


def main(argv=None) -> int:
    ap = parser("selftalk_report", __doc__.split("\n\n")[0])
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--rows", nargs="+", help="row.json files, in table order")
    which.add_argument("--methods", nargs="+", help="methods in table order: their rows are --out/<method>/row.json")
    ap.add_argument("--out", required=True, help="folder for results.json and report.md")
    args = ap.parse_args(argv)
    rows = []
    for path in args.rows or [RunLayout.onep_file(Path(args.out) / m, "row") for m in args.methods]:
        row = read_json(path)
        if not isinstance(row, dict) or not {"method", "label", "final"} <= row.keys():
            raise RecordError(f"{path}: not a row of the one-player comparison (run selftalk_eval)")
        rows.append(row)
    try:
        table = comparison(rows)
    except ValueError as e:
        raise RecordError(str(e)) from None
    out = Path(args.out)
    atomic_write_json(RunLayout.onep_table_file(out, "results"), table)
    atomic_write_text(RunLayout.onep_table_file(out, "report"), markdown(table))
    print(f"report: {RunLayout.onep_table_file(out, 'report')}", file=sys.stderr)
    return 0
