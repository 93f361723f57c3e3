"""`xbot`: the operator's command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from xbot_assets.runtime import prepare_environment


def _warehouse():
    from xbot_assets.settings import WarehouseTarget
    from xbot_assets.warehouse import Warehouse

    return Warehouse(WarehouseTarget.from_env())


def cmd_load(args: argparse.Namespace) -> int:
    from xbot_assets.clock import WallClock
    from xbot_assets.ingest.load import RAW_TABLE_OF, WRITERS, read_csv_rows
    from xbot_assets.runtime import report_raw_materialization

    path = Path(args.file)
    if not path.exists():
        print(f"xbot load: no such file: {path}", file=sys.stderr)
        return 2
    try:
        rows = read_csv_rows(path)
    except (ValueError, UnicodeDecodeError) as exc:
        print(f"xbot load: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    wh = _warehouse()
    wh.migrate()
    with wh.connect() as conn:
        report = WRITERS[args.kind](conn, rows, now=WallClock().now(), source_name=path.name)
    print(f"{path}: {len(rows)} rows read into {wh.target.describe()}")
    print(report.summary())
    if report.loaded or report.updated or report.quarantined_total:
        report_raw_materialization(
            RAW_TABLE_OF[args.kind], report.as_metadata(), f"xbot load {args.kind} {path.name}"
        )
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    from xbot_assets.runtime import run_job

    from xbot_assets.ingest.parse import parse_timestamp

    as_of = parse_timestamp(args.as_of, "--as-of") if args.as_of else None
    started = time.perf_counter()
    result = run_job("refresh_job", now=as_of, tags={"xbot/trigger": "cli-refresh"})
    elapsed = time.perf_counter() - started
    return _report_run(result, elapsed)


def _report_run(result, elapsed: float) -> int:
    materialized = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    checks = result.get_asset_check_evaluations()
    failed_checks = [c for c in checks if not c.passed]
    print(f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'} in {elapsed:.1f}s — "
          f"{len(materialized)} assets materialized, {len(checks) - len(failed_checks)}/{len(checks)} checks passed")
    for check in failed_checks:
        print(f"  check failed: {check.asset_key.to_user_string()} {check.check_name}")
    if not result.success:
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE":
                error = event.event_specific_data.error
                while error.cause is not None:  # the user code's own error, not Dagster's wrapper
                    error = error.cause
                print(f"  step failed: {event.step_key}: {error.message.strip()[:2000]}")
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from xbot_assets.demo import run_demo

    return run_demo(days=args.days, scenario=args.scenario, account_id=args.account, seed=args.seed,
                    generator_policy=args.generator_policy, report_path=Path(args.report) if args.report else None)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from xbot_assets.evaluation import evaluate
    from xbot_assets.simulation.closed_loop import LoopError

    if args.days < 1 or args.seeds < 1:
        raise ValueError("--days and --seeds must be at least 1")

    def progress(day: int, seconds: float) -> None:
        if not args.json and (day % 10 == 9 or day == args.days - 1):
            print(f"  day {day + 1}/{args.days} ({seconds:.0f}s)", file=sys.stderr, flush=True)

    try:
        result = evaluate(args.scenario, args.days, args.seeds, progress=progress).result
    except LoopError as exc:
        print(f"xbot evaluate: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"scenario {result['scenario']}, {result['days']} days, seeds {result['seeds']}")
    for policy, values in result["policies"].items():
        f = values["f_per_1k"]
        print(f"  generators by {policy:<9} F/1K {f['learned']:.2f} vs static {f['static']:.2f} (oracle "
              f"{f['oracle']:.2f}): lift {values['lift_vs_static']:+.1%}, share of oracle "
              f"{values['share_of_oracle']:.1%}; content regret {values['content_regret']['learned']:.1f} "
              f"(Lai–Robbins {values['content_regret']['lai_robbins_bound']:.1f}); engagement R² "
              f"{values['engagement_model']['r2_holdout']} (ceiling {values['engagement_model']['r2_ceiling']})")
    print(f"time: {result['timing_seconds']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xbot", description="The learning brain of an autonomous X account.")
    sub = parser.add_subparsers(dest="command", required=True)

    load = sub.add_parser("load", help="import your own history from a CSV file (bad rows are quarantined)")
    load.add_argument("kind", choices=["posts", "metrics", "followers", "viral"])
    load.add_argument("file")
    load.set_defaults(func=cmd_load)

    refresh = sub.add_parser("refresh", help="materialize everything downstream of the raw tables through Dagster")
    refresh.add_argument("--as-of", default=None, help="the 'now' of the 7-day windows (ISO 8601, UTC); default: now")
    refresh.set_defaults(func=cmd_refresh)

    demo = sub.add_parser("demo", help="the closed loop for N simulated days through Dagster, with an HTML report")
    demo.add_argument("--days", type=int, default=30)
    demo.add_argument("--scenario", default=None, help="scenario YAML (default: scenarios/default.yaml)")
    demo.add_argument("--account", default="demo", help="account_id the simulated posts are written under")
    demo.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    demo.add_argument("--generator-policy", choices=["weights", "posterior"], default="weights",
                      help="how the learning account picks generators (seed 004 weights, or posterior sampling)")
    demo.add_argument("--report", default=None, help="where to write the HTML report (default .xbot/report.html)")
    demo.set_defaults(func=cmd_demo)

    evaluate = sub.add_parser("evaluate", help="learning on vs the static seed defaults on a scenario, as JSON")
    evaluate.add_argument("--scenario", required=True, help="scenario name (scenarios/) or YAML file")
    evaluate.add_argument("--days", type=int, default=60)
    evaluate.add_argument("--seeds", type=int, default=1, help="seeds: the scenario's seed and the next K-1")
    evaluate.add_argument("--json", action="store_true", help="print the JSON object only")
    evaluate.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    prepare_environment()
    try:
        return args.func(args)
    except ValueError as exc:  # bad settings or input: say what, not a traceback
        print(f"xbot {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
