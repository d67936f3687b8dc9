"""The critic's learning curve over runs of ``critic-all.sh`` that differ in ``CRITIC_EXAMPLES``.

::

    python -m selfimprove critic_curve RUN... --out DIR

Reads each RUN's ``critic/eval/results.json``, ``critic/stats.json`` and ``manifest.json`` and writes
``report.md``, ``comparison.json`` and ``critic_curve.png`` into DIR (:mod:`selfimprove.critic.curve`).
``scripts/sweep.sh`` ends with it for a sweep whose cells run only the critic driver
(``selfimprove/presets/critic_curve.env``).
"""

from __future__ import annotations

from selfimprove.core.cli import parser
from selfimprove.core.layout import RunLayout
from selfimprove.critic.curve import write_curve


def main(argv: list[str] | None = None) -> int:
    ap = parser("critic_curve", __doc__)
    ap.add_argument("runs", nargs="+", metavar="RUN", help="run folders of critic-all.sh (runs/<EXP>)")
    ap.add_argument("--out", required=True, metavar="DIR", help="folder for report.md, comparison.json, the plot")
    args = ap.parse_args(argv)
    report = write_curve(args.runs, args.out)
    print(f"wrote {report}, {RunLayout.critic_curve_file(args.out, 'comparison')}")
    return 0
