"""The operator's commands: `xbot status`, `xbot health`, `xbot optimize` and `xbot weights` (operator.health holds
the rules, operator.status and operator.runs the queries, operator.render the text). Without --account, status,
health and optimize act on every account; weights acts on the one account the generator name points at."""

from __future__ import annotations

import argparse
import os
from typing import Any


def _warehouse():
    from xbot_assets.operator.cli import _warehouse

    return _warehouse()


def _clock(args: argparse.Namespace, warehouse):
    """--as-of, else the wall clock, else (a warehouse whose data lies in the past) its newest data time."""
    from xbot_assets.clock import WallClock
    from xbot_assets.operator.cli import _as_of
    from xbot_assets.operator.health import choose_clock
    from xbot_assets.operator.status import newest_data_at

    if args.as_of:
        return choose_clock(WallClock().now(), None, _as_of(args))
    return choose_clock(WallClock().now(), newest_data_at(warehouse))


def _job_names() -> tuple[list[str], str | None]:
    """The jobs of the code location (or the known ones, with a note, when the definitions cannot load)."""
    from xbot_assets.operator.runs import KNOWN_JOBS, ordered_job_names
    from xbot_assets.runtime.instance import definitions

    try:
        return ordered_job_names(j.name for j in definitions().resolve_all_job_defs()), None
    except Exception as exc:  # the dashboard still shows what it can
        return list(KNOWN_JOBS), f"definitions did not load ({type(exc).__name__}: {exc}); showing the known jobs"


def _read_runs(names: list[str] | None) -> tuple[list[dict[str, Any]], str | None]:
    """The jobs' newest runs (`names`, or every job that ran recently), or a note when the instance is unreadable."""
    from xbot_assets.operator.runs import job_runs, recent_job_names
    from xbot_assets.runtime.instance import instance

    try:
        inst = instance()
        return job_runs(inst, names if names is not None else recent_job_names(inst)), None
    except Exception as exc:  # an unreachable instance must not hide the warehouse's state
        return [], f"the Dagster instance could not be read ({type(exc).__name__}: {exc})"


def infrastructure_verdict(wh):
    """The verdict of the planning/publishing locks and of the Redis model cache (when XBOT_REDIS_URL is set)."""
    import dagster as dg

    from xbot_assets.acting.lock import LOCK_STUCK_AFTER, lock_states, wall_now
    from xbot_assets.defs.resources import REDIS_ENV
    from xbot_assets.learned.serving import cache_state
    from xbot_assets.operator.health_infrastructure import evaluate_infrastructure

    redis_url = dg.EnvVar(REDIS_ENV).get_value() if os.environ.get(REDIS_ENV) else None
    return evaluate_infrastructure(lock_states(wh), wall_now(), cache_state(wh, redis_url), LOCK_STUCK_AFTER)


def cmd_status(args: argparse.Namespace) -> int:
    from xbot_assets.operator.health import worst_status
    from xbot_assets.operator.render import dumps, render_status
    from xbot_assets.operator.runs import jobs_verdict
    from xbot_assets.operator.status import collect_status, jsonable

    wh = _warehouse()
    status = collect_status(wh, _clock(args, wh), args.account)
    infrastructure = infrastructure_verdict(wh)
    health = status["health"]
    health["locks_and_cache"] = jsonable(infrastructure.as_dict())
    health["status"] = worst_status([health["status"], infrastructure.status])
    health["reasons"] += [f"{infrastructure.account_id}: {r}" for r in infrastructure.reasons]
    runs, note = None, None
    if not args.no_jobs:
        names, note = _job_names()
        runs, run_note = _read_runs(names)
        note = run_note or note
        status["jobs"] = runs
        jobs = jobs_verdict(runs)
        health = status["health"]
        health["jobs"] = jsonable(jobs.as_dict())
        health["status"] = worst_status([health["status"], jobs.status])
        health["reasons"] += [f"{jobs.account_id}: {r}" for r in jobs.reasons]
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
    from xbot_assets.operator.health import EXIT_CODES, NO_ACCOUNTS_REASON, overall_status, worst_status
    from xbot_assets.operator.render import dumps, render_health
    from xbot_assets.operator.runs import jobs_verdict
    from xbot_assets.operator.status import check_health

    wh = _warehouse()
    clock = _clock(args, wh)
    verdicts = check_health(wh, clock, args.account)
    infrastructure = infrastructure_verdict(wh)
    status = worst_status([overall_status(verdicts), infrastructure.status])
    jobs, note = None, None
    if not args.no_jobs:
        runs, note = _read_runs(None)
        if note is None:
            jobs = jobs_verdict(runs)
            status = worst_status([status, jobs.status])
    if args.json:
        print(dumps({
            "as_of": clock.now, "clock": clock.as_dict(), "status": status, "exit_code": EXIT_CODES[status],
            "accounts": [v.as_dict() for v in verdicts],
            "locks_and_cache": infrastructure.as_dict(),
            **({"jobs": jobs.as_dict()} if jobs is not None else {}),
            **({"jobs_note": note} if note else {}),
            **({"reasons": [NO_ACCOUNTS_REASON]} if not verdicts else {}),
        }))
    else:
        print(clock.describe())
        others = [infrastructure, *([jobs] if jobs is not None else [])]
        print(render_health(verdicts, status, notes=not args.quiet, others=others))
        if note:
            print(f"note: {note}")
    return EXIT_CODES[status]


def cmd_optimize(args: argparse.Namespace) -> int:
    from xbot_assets.learned.weights import optimize
    from xbot_assets.operator.cli import _as_of
    from xbot_assets.operator.render import render_optimization
    from xbot_assets.operator.status import resolve_accounts

    now = _as_of(args)
    wh = _warehouse()
    wh.migrate()
    with wh.connect() as conn:
        accounts = resolve_accounts(conn, args.account)
    if not accounts:
        raise ValueError("no account to optimize: register one with `xbot accounts add` or run `xbot demo`")
    failed = False
    for i, account in enumerate(accounts):
        report = optimize(wh, account, now, dry_run=args.dry_run, force=args.force)
        print(("\n" if i else "") + render_optimization(report))
        failed |= report.status == "failed"
    return 1 if failed else 0


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


def _weights_account(wh, requested: str | None, generator: str) -> str:
    """--account, else the only account, else the one account that has `generator`; ambiguous: list the accounts."""
    from xbot_assets.learning.generator_weights import DEFAULT_WEIGHTS
    from xbot_assets.operator.status import list_accounts, resolve_accounts

    wh.migrate()
    with wh.connect() as conn:
        if requested is not None:
            return resolve_accounts(conn, requested)[0]
        known = list_accounts(conn)
        if len(known) <= 1:
            return resolve_accounts(conn, None, single=True)[0]
        having = []
        for account in known:
            names = {r[0] for r in conn.fetchall(
                "select generator_name from learn.generator_weights where account_id = ?", [account])}
            if generator in (names or DEFAULT_WEIGHTS):  # an account without weights starts from the defaults
                having.append(account)
    if len(having) == 1:
        return having[0]
    if not having:
        raise ValueError(f"unknown generator {generator!r} in every account ({', '.join(known)})")
    raise ValueError(f"generator {generator!r} is in several accounts ({', '.join(having)}): say which with "
                     "--account")


def cmd_weights(args: argparse.Namespace) -> int:
    from xbot_assets.learned.controls import lock_generator, set_generator_weight, unlock_generator
    from xbot_assets.operator.cli import _as_of
    from xbot_assets.operator.render import render_control

    if args.action == "set":
        weight = _parse_weight(args.weight)
    elif args.weight is not None:
        raise ValueError(f"{args.action} takes no WEIGHT (got {args.weight!r}); use `xbot weights set`")
    now = _as_of(args)
    wh = _warehouse()
    account = _weights_account(wh, args.account, args.generator)
    if args.action == "lock":
        report = lock_generator(wh, account, args.generator, now, reason=args.reason)
    elif args.action == "unlock":
        report = unlock_generator(wh, account, args.generator, now, reason=args.reason)
    else:
        report = set_generator_weight(wh, account, args.generator, weight, now, reason=args.reason)
    print(render_control(report))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the operator's dashboard of each account (or --account) now, as the operator_dashboard asset does."""
    import time
    import webbrowser
    from pathlib import Path

    from xbot_assets.pages.dashboard import build_dashboard
    from xbot_assets.pages.data import dashboard_accounts

    wh = _warehouse()
    clock = _clock(args, wh)
    with wh.connect(read_only=True) as conn:
        accounts = dashboard_accounts(conn)
    if args.account:
        if args.account not in accounts:
            raise ValueError(f"unknown account {args.account!r} (known: {', '.join(accounts) or 'none'})")
        accounts = [args.account]
    print(clock.describe())
    directory = Path(args.out) if args.out else None
    for account_id in accounts:
        started = time.perf_counter()
        path = build_dashboard(wh, account_id, clock.now, directory, args.days)
        print(f"{account_id}: {path} ({time.perf_counter() - started:.1f} s)")
        if args.open:
            webbrowser.open(path.resolve().as_uri())
    if not accounts:
        print("no account yet: load posts (xbot load) or add one (xbot accounts add)")
    return 0


HEALTH_EPILOG_HEADER = "Exit code: 0 healthy, 1 degraded, 2 critical (also for an unknown account or bad input).\n"
AS_OF_HELP = ("the time to judge at (ISO 8601, UTC unless an offset is given); default: the wall clock, or the "
              "warehouse's newest data time when nothing was observed in the day before the wall clock (a demo, an "
              "import)")


def add_commands(sub) -> None:
    from xbot_assets.operator.health import health_rules_text

    status = sub.add_parser("status", help="the operator's dashboard: generators, arms, models, jobs and health",
                            description="Per account (all of them, or --account): generators (posts and F/1K in the "
                            "learning window and all time, weight, status: active, locked, pinned or disabled), "
                            "content and timing arms, the newest models against their baselines, generator "
                            "posteriors, optimization events, the newest run of every job and the health verdict "
                            "with its reasons, and which clock it was judged at. Always exits 0: monitors use "
                            "`xbot health`.")
    status.add_argument("--account", default=None, help="one account (default: every account)")
    status.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    status.add_argument("--as-of", default=None, help=AS_OF_HELP)
    status.add_argument("--no-jobs", action="store_true",
                        help="skip the jobs' newest runs (they need the definitions, which take seconds to load)")
    status.set_defaults(func=cmd_status)

    health = sub.add_parser(
        "health", help="the health verdict (healthy | degraded | critical) with its reasons, as an exit code",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Judge each account's learned state and the newest runs of the Dagster jobs by the rules below; "
        "the worst verdict wins.",
        epilog=HEALTH_EPILOG_HEADER + "\nRules and severities:\n\n" + health_rules_text(),
    )
    health.add_argument("--account", default=None, help="one account (default: every account)")
    health.add_argument("--as-of", default=None, help=AS_OF_HELP)
    health.add_argument("--json", action="store_true", help="print the verdicts as one JSON object")
    health.add_argument("--quiet", action="store_true", help="leave out the notes (info findings)")
    health.add_argument("--no-jobs", action="store_true", help="judge the warehouse only, not the jobs' runs")
    health.set_defaults(func=cmd_health)

    optimize = sub.add_parser(
        "optimize", help="run (or preview with --dry-run) one optimization cycle of the generator weights",
        description="One cycle of the weight optimizer for every account (or --account), on the learning window's "
        "followers per 1000 impressions: generators move 30%% of the way to a score-based target, 15%% of the mass "
        "is kept for exploration, none falls under the 2%% floor, locked and pinned ones stay. Prints every change "
        "with its reason. Applying logs an optimization event; a cycle on evidence and weights unchanged since the "
        "last one does nothing unless --force.",
    )
    optimize.add_argument("--account", default=None, help="one account (default: every account)")
    optimize.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    optimize.add_argument("--force", action="store_true",
                          help="run even if the evidence and weights are unchanged since the last cycle")
    optimize.add_argument("--as-of", default=None, help="the cycle's timestamp (ISO 8601); default: the wall clock")
    optimize.set_defaults(func=cmd_optimize)

    weights = sub.add_parser(
        "weights", help="lock, unlock or set a generator's weight (logged as an optimization event)",
        description="lock GENERATOR: optimizations keep its weight until unlocked (locking it again changes "
        "nothing). set GENERATOR WEIGHT: give it exactly WEIGHT (0..1) and pin it there: optimizations keep it "
        "until unlocked; the other active generators absorb the difference, none below the 2%% floor, locked and "
        "pinned ones untouched. unlock GENERATOR: hand a locked or pinned generator back to the optimizer. Without "
        "--account: the only account, or the one account that has GENERATOR. Bad input changes nothing (exit code "
        "2).",
    )
    weights.add_argument("action", choices=["lock", "unlock", "set"])
    weights.add_argument("generator", metavar="GENERATOR")
    weights.add_argument("weight", metavar="WEIGHT", nargs="?", default=None, help="for set: a number in 0..1")
    weights.add_argument("--account", default=None,
                         help="the account (default: the only one, or the one that has GENERATOR)")
    weights.add_argument("--reason", default=None, help="why (stored with the event)")
    weights.add_argument("--as-of", default=None, help="the event's timestamp (ISO 8601); default: the wall clock")
    weights.set_defaults(func=cmd_weights)

    report = sub.add_parser(
        "report", help="write the operator's dashboard (one HTML page per account) now",
        description="What the account did (followers, impressions, engagements against the previous period, top and "
        "bottom posts), the best times to post, what works by content type and generator, the queue and why each "
        "post was chosen, and learning health. One self-contained page per account (it fetches nothing), written "
        "to XBOT_DASHBOARD_DIR (default .xbot/dashboards) and served by `xbot serve`. The operator_dashboard asset "
        "writes the same pages after each refresh and plan.",
    )
    report.add_argument("--account", default=None, help="one account (default: every account)")
    report.add_argument("--as-of", default=None, help=AS_OF_HELP)
    report.add_argument("--days", type=int, default=30, help="the period shown, compared with the one before it")
    report.add_argument("--out", default=None, help="the directory to write to (default XBOT_DASHBOARD_DIR)")
    report.add_argument("--open", action="store_true", help="open the page in the default browser")
    report.set_defaults(func=cmd_report)
