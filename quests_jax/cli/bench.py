"""``quests-jax bench``: the accelerator benchmark suite (:mod:`quests_jax.benchmark`)."""

from __future__ import annotations

import sys

from .common import PROG, OutputPath, UserError, log, write_json


def cmd_bench(args) -> None:
    from .. import benchmark

    if args.compare:
        try:
            a, b = (benchmark.load_report(path) for path in args.compare)
        except (OSError, ValueError) as err:
            raise UserError(str(err)) from None
        print(benchmark.compare(a, b))
        return
    quick = args.quick or args.check
    report = benchmark.run_suite(quick=quick, only=args.only, log=log)
    if args.output:
        write_json(args.output, report)
    if args.check:
        failures = benchmark.check(report)
        for line in failures:
            print(f"{PROG} bench --check: FAIL {line}", file=sys.stderr)
        kind = report["device"]["kind"]
        if failures:
            print(f"FAIL: {len(failures)} of {len(report['results'])} checks ({kind})")
            raise SystemExit(1)
        print(f"PASS: {len(report['results'])} workloads, within their float64 bounds ({kind})")


def add_bench_command(sub) -> None:
    from ..benchmark import QUICK

    about = "the accelerator benchmark suite (timings, float64 checks, a JSON report)"
    p = sub.add_parser("bench", help=about, description=about)
    p.add_argument(
        "--quick",
        action="store_true",
        help="small sizes (<= 3 minutes on two CPU cores); default: the full suite",
    )
    p.add_argument(
        "--only",
        nargs="+",
        choices=sorted(QUICK),
        metavar="WORKLOAD",
        help=f"run only these workloads ({', '.join(QUICK)})",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="the quick suite, then PASS / FAIL against the float64 bounds (exit status 1 on FAIL)",
    )
    p.add_argument(
        "--compare",
        nargs=2,
        metavar=("A.json", "B.json"),
        help="print two reports side by side (runs nothing)",
    )
    p.add_argument("-o", "--output", type=OutputPath, default=None, help="JSON file for the report")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(run=cmd_bench)
