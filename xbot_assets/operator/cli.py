"""`xbot`: the operator's command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from xbot_assets.runtime.instance import prepare_environment, step_failures


def _warehouse():
    from xbot_assets.settings import WarehouseTarget
    from xbot_assets.warehouse.connection import Warehouse

    return Warehouse(WarehouseTarget.from_env())


def cmd_load(args: argparse.Namespace) -> int:
    from xbot_assets.clock import WallClock
    from xbot_assets.ingest.load import RAW_TABLE_OF, WRITERS, read_csv_rows
    from xbot_assets.runtime.instance import report_raw_materialization

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
    from xbot_assets.ingest.parse import parse_timestamp
    from xbot_assets.runtime.instance import run_job

    as_of = parse_timestamp(args.as_of, "--as-of") if args.as_of else None
    started = time.perf_counter()
    result = run_job("refresh_job", now=as_of, tags={"xbot/trigger": "cli-refresh"})
    elapsed = time.perf_counter() - started
    return report_run(result, elapsed)


def report_run(result, elapsed: float) -> int:
    materialized = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    checks = result.get_asset_check_evaluations()
    failed_checks = [c for c in checks if not c.passed]
    print(f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'} in {elapsed:.1f}s — "
          f"{len(materialized)} assets materialized, {len(checks) - len(failed_checks)}/{len(checks)} checks passed")
    for check in failed_checks:
        print(f"  check failed: {check.asset_key.to_user_string()} {check.check_name}")
    if not result.success:
        for failure in step_failures(result):
            print(f"  step failed: {failure}")
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from xbot_assets.operator.demo import run_demo

    return run_demo(days=args.days, scenario=args.scenario, account_id=args.account, seed=args.seed,
                    generator_policy=args.generator_policy, report_path=Path(args.report) if args.report else None,
                    generator=args.generator, profile_path=Path(args.profile) if args.profile else None)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from xbot_assets.evaluation.closed_loop import LoopError
    from xbot_assets.evaluation.evaluate import evaluate

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


# ---------------------------------------------------------------------------------------------------------------------
# The operator's commands: status, health, optimize, weights (operator.health holds the rules, operator.status the
# queries, operator.render the text); the production loop's commands are in operator.production.


def _as_of(args: argparse.Namespace):
    """`--as-of` (ISO 8601, naive = UTC) or the wall clock."""
    from xbot_assets.clock import WallClock
    from xbot_assets.ingest.parse import parse_timestamp

    value = getattr(args, "as_of", None)
    return parse_timestamp(value, "--as-of") if value else WallClock().now()


def _job_names() -> tuple[list[str], str | None]:
    """The jobs of the code location (or the known ones, with a note, when the definitions cannot load)."""
    from xbot_assets.operator.status import KNOWN_JOBS, ordered_job_names
    from xbot_assets.runtime.instance import definitions

    try:
        return ordered_job_names(j.name for j in definitions().resolve_all_job_defs()), None
    except Exception as exc:  # the dashboard still shows what it can
        return list(KNOWN_JOBS), f"definitions did not load ({type(exc).__name__}: {exc}); showing the known jobs"


def cmd_status(args: argparse.Namespace) -> int:
    from xbot_assets.operator.render import dumps, render_status
    from xbot_assets.operator.status import collect_status, job_runs
    from xbot_assets.runtime.instance import instance

    now = _as_of(args)
    status = collect_status(_warehouse(), now, args.account)
    runs, note = None, None
    if not args.no_jobs:
        names, note = _job_names()
        try:
            runs = job_runs(instance(), names)
        except Exception as exc:  # an unreachable instance must not hide the warehouse's state
            runs, note = [], f"the Dagster instance could not be read ({type(exc).__name__}: {exc})"
        status["jobs"] = runs
    if note:
        status["jobs_note"] = note
    if args.json:
        print(dumps(status))
    else:
        print(render_status(status, runs))
        if note:
            print(f"note: {note}")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    import json

    from xbot_assets.operator.health import EXIT_CODES, NO_ACCOUNTS_REASON, overall_status
    from xbot_assets.operator.render import render_health
    from xbot_assets.operator.status import check_health, jsonable

    now = _as_of(args)
    verdicts = check_health(_warehouse(), now, args.account)
    status = overall_status(verdicts)
    if args.json:
        print(json.dumps(jsonable({
            "as_of": now, "status": status, "exit_code": EXIT_CODES[status],
            "accounts": [v.as_dict() for v in verdicts],
            **({"reasons": [NO_ACCOUNTS_REASON]} if not verdicts else {}),
        }), indent=2, ensure_ascii=False))
    else:
        print(f"as of {now:%Y-%m-%d %H:%M} UTC")
        print(render_health(verdicts, status, notes=not args.quiet))
    return EXIT_CODES[status]


def _single_account(args: argparse.Namespace) -> str:
    from xbot_assets.operator.status import resolve_accounts

    wh = _warehouse()
    wh.migrate()
    with wh.connect() as conn:
        return resolve_accounts(conn, args.account, single=True)[0]


def cmd_optimize(args: argparse.Namespace) -> int:
    from xbot_assets.learned.weights import optimize
    from xbot_assets.operator.render import render_optimization

    now = _as_of(args)
    account = _single_account(args)
    report = optimize(_warehouse(), account, now, dry_run=args.dry_run, force=args.force)
    print(render_optimization(report))
    return 1 if report.status == "failed" else 0


def _parse_weight(text: str | None) -> float:
    import math

    if text is None:
        raise ValueError("set needs a WEIGHT between 0 and 1, e.g. `xbot weights set dataNerd 0.2`")
    try:
        weight = float(text)
    except ValueError:
        raise ValueError(f"WEIGHT must be a number between 0 and 1, got {text!r}") from None
    if not math.isfinite(weight) or not 0.0 <= weight <= 1.0:
        raise ValueError(f"WEIGHT must be between 0 and 1, got {text}")
    return weight


def cmd_weights(args: argparse.Namespace) -> int:
    from xbot_assets.learned.controls import lock_generator, set_generator_weight, unlock_generator
    from xbot_assets.operator.render import render_control

    if args.action == "set":
        weight = _parse_weight(args.weight)
    elif args.weight is not None:
        raise ValueError(f"{args.action} takes no WEIGHT (got {args.weight!r}); use `xbot weights set`")
    now = _as_of(args)
    account = _single_account(args)
    wh = _warehouse()
    if args.action == "lock":
        report = lock_generator(wh, account, args.generator, now, reason=args.reason)
    elif args.action == "unlock":
        report = unlock_generator(wh, account, args.generator, now, reason=args.reason)
    else:
        report = set_generator_weight(wh, account, args.generator, weight, now, reason=args.reason)
    print(render_control(report))
    return 0


HEALTH_EPILOG_HEADER = "Exit code: 0 healthy, 1 degraded, 2 critical (also for an unknown account or bad input).\n"


def cmd_serve(args: argparse.Namespace) -> int:
    """The UI and the daemon (schedules, sensors, run queue) for the code location in workspace.yaml."""
    import os
    import shutil

    from xbot_assets.runtime.instance import ensure_manifest
    from xbot_assets.settings import PROJECT_ROOT

    ensure_manifest()
    dagster = shutil.which("dagster") or str(Path(sys.executable).parent / "dagster")
    command = [dagster, "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", args.host, "-p", str(args.port)]
    print(f"xbot serve: {' '.join(command)} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})", flush=True)
    os.chdir(PROJECT_ROOT)
    os.execv(command[0], command)  # dagster dev owns the terminal from here; Ctrl-C stops UI and daemon


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xbot", description="The learning brain of an autonomous X account.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the Dagster UI and daemon (dagster dev -w workspace.yaml)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.set_defaults(func=cmd_serve)

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
    demo.add_argument("--generator", choices=["offline", "llm"], default="offline",
                      help="who writes the learning account's posts (llm: OPENAI_BASE_URL, OPENAI_API_KEY, "
                           "XBOT_LLM_MODEL)")
    demo.add_argument("--profile", default=None, help="with --generator llm: the account profile YAML (default: "
                      "a built-in health-habits profile)")
    demo.set_defaults(func=cmd_demo)

    evaluate = sub.add_parser("evaluate", help="learning on vs the static seed defaults on a scenario, as JSON")
    evaluate.add_argument("--scenario", required=True, help="scenario name (scenarios/) or YAML file")
    evaluate.add_argument("--days", type=int, default=60)
    evaluate.add_argument("--seeds", type=int, default=1, help="seeds: the scenario's seed and the next K-1")
    evaluate.add_argument("--json", action="store_true", help="print the JSON object only")
    evaluate.set_defaults(func=cmd_evaluate)

    as_of_help = "the 'now' to judge by (ISO 8601, UTC unless an offset is given); default: the wall clock"
    status = sub.add_parser("status", help="the operator's dashboard: generators, arms, models, jobs and health",
                            description="Per account (all of them, or --account): generators (posts and F/1K in the "
                            "learning window and all time, weight, tier, lock), content and timing arms, the newest "
                            "models against their baselines, generator posteriors, optimization events, the newest "
                            "run of every job and the health verdict with its reasons. Always exits 0: monitors use "
                            "`xbot health`.")
    status.add_argument("--account", default=None, help="one account (default: every account)")
    status.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    status.add_argument("--as-of", default=None, help=as_of_help)
    status.add_argument("--no-jobs", action="store_true",
                        help="skip the jobs' newest runs (they need the definitions, which take seconds to load)")
    status.set_defaults(func=cmd_status)

    from xbot_assets.operator.health import health_rules_text

    health = sub.add_parser(
        "health", help="the health verdict (healthy | degraded | critical) with its reasons, as an exit code",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Judge each account by seed 004's health rules; the worst verdict wins.",
        epilog=HEALTH_EPILOG_HEADER + "\nRules and severities:\n\n" + health_rules_text(),
    )
    health.add_argument("--account", default=None, help="one account (default: every account)")
    health.add_argument("--as-of", default=None, help=as_of_help)
    health.add_argument("--json", action="store_true", help="print the verdicts as one JSON object")
    health.add_argument("--quiet", action="store_true", help="leave out the notes (info findings)")
    health.set_defaults(func=cmd_health)

    optimize = sub.add_parser(
        "optimize", help="run (or preview with --dry-run) one optimization cycle of the generator weights",
        description="One cycle of seed 004's optimizer on the learning window's F/1K; prints every change with its "
        "reason. Applying logs an optimization event; a cycle on evidence and weights unchanged since the last one "
        "does nothing unless --force.",
    )
    optimize.add_argument("--account", default=None, help="required unless exactly one account exists")
    optimize.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    optimize.add_argument("--force", action="store_true",
                          help="run even if the evidence and weights are unchanged since the last cycle")
    optimize.add_argument("--as-of", default=None, help="the cycle's timestamp (ISO 8601); default: the wall clock")
    optimize.set_defaults(func=cmd_optimize)

    weights = sub.add_parser(
        "weights", help="lock, unlock or set a generator's weight (logged as an optimization event)",
        description="lock GENERATOR: optimizations keep its weight until unlocked. unlock GENERATOR: hand it back to "
        "the optimizer. set GENERATOR WEIGHT: give it exactly WEIGHT (0..1); the other active generators absorb the "
        "difference, none below the 2% floor, locked ones untouched. Bad input changes nothing (exit code 2).",
    )
    weights.add_argument("action", choices=["lock", "unlock", "set"])
    weights.add_argument("generator", metavar="GENERATOR")
    weights.add_argument("weight", metavar="WEIGHT", nargs="?", default=None, help="for set: a number in 0..1")
    weights.add_argument("--account", default=None, help="required unless exactly one account exists")
    weights.add_argument("--reason", default=None, help="why (stored with the event)")
    weights.add_argument("--as-of", default=None, help="the event's timestamp (ISO 8601); default: the wall clock")
    weights.set_defaults(func=cmd_weights)

    from xbot_assets.operator.production import add_commands

    add_commands(sub)
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
