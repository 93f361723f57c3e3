"""`xbot`: the operator's command line."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from xbot_assets.operator.loading import add_load_parser
from xbot_assets.operator.ope_cli import add_ope_parser
from xbot_assets.runtime.instance import prepare_environment, step_failures


def _warehouse():
    from xbot_assets.settings import WarehouseTarget
    from xbot_assets.warehouse.connection import Warehouse

    return Warehouse(WarehouseTarget.from_env())


def cmd_refresh(args: argparse.Namespace) -> int:
    from xbot_assets.ingest.parse import parse_timestamp
    from xbot_assets.runtime.instance import run_job

    as_of = parse_timestamp(args.as_of, "--as-of") if args.as_of else None
    started = time.perf_counter()
    # --full-refresh rebuilds the incremental marts from all of history (dbt build --full-refresh).
    op_config = {"xbot_dbt_assets": {"full_refresh": True}} if args.full_refresh else None
    result = run_job("refresh_job", now=as_of, tags={"xbot/trigger": "cli-refresh"}, op_config=op_config)
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
    from xbot_assets.acting.planner import DEFAULT_GENERATOR_POLICY
    from xbot_assets.operator.demo import run_demo

    return run_demo(days=args.days, scenario=args.scenario, account_id=args.account, seed=args.seed,
                    generator_policy=args.generator_policy or DEFAULT_GENERATOR_POLICY, report_path=Path(args.report) if args.report else None,
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
        reported = None if args.reported_follows is None else args.reported_follows == "on"
        # Each run's warehouses (~40 MB a seed for 60 days) go when it ends: nothing reads them after the result.
        with tempfile.TemporaryDirectory(prefix="xbot-evaluate-", ignore_cleanup_errors=True) as workdir:
            result = evaluate(args.scenario, args.days, args.seeds, progress=progress, ope=args.ope,
                              reported_follows=reported, jobs=args.jobs, workdir=Path(workdir)).result
    except LoopError as exc:
        print(f"xbot evaluate: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(evaluation_text(result))
    return 0


def evaluation_text(result: dict) -> str:
    """`xbot evaluate`'s summary for a reader: the settings the learners had, each policy's headline, OPE."""
    lines = [f"scenario {result['scenario']}, {result['days']} days, seeds {result['seeds']}",
             "  settings: " + ", ".join(f"{k} {_setting(v)}" for k, v in sorted(result["settings"].items()))]
    for policy, values in result["policies"].items():
        f = values["f_per_1k"]
        lines.append(
            f"  generators by {policy:<9} F/1K {f['learned']:.2f} vs static {f['static']:.2f} (oracle "
            f"{f['oracle']:.2f}): lift {values['lift_vs_static']:+.1%}, share of oracle "
            f"{values['share_of_oracle']:.1%}; content regret {values['content_regret']['learned']:.1f} "
            f"(Lai–Robbins {values['content_regret']['lai_robbins_bound']:.1f}); " + _generator_regret(values)
            + _model_scores(values))
    if "ope" in result:
        from xbot_assets.operator.ope_cli import describe_validation

        lines.append(describe_validation(result["ope"]))
    lines.append(f"time: {result['timing_seconds']}")
    return "\n".join(lines)


def _generator_regret(values: dict) -> str:
    regret = values["generator_regret"]
    floor = regret["share_at_floor"]
    at_floor = ("the floor exceeds what the oracle earns in so few posts" if floor is None
                else f"share of oracle at that floor {floor:.1%}")
    return (f"generator regret {regret['learned']:.1f} followers "
            f"(Lai–Robbins {regret['lai_robbins_bound']:.1f}: {at_floor}); ")


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _model_scores(values: dict) -> str:
    """Each model's forward score (every version on the posts after it) and its own holdout's, with their ceilings."""
    parts = []
    for model, metric, label in (("engagement_model", "r2", "engagement R²"), ("follow_model", "auc", "follow AUC")):
        scores = values[model]
        parts.append(f"{label} forward {_score(scores[f'{metric}_forward'])} (ceiling "
                     f"{_score(scores[f'{metric}_forward_ceiling'])}), holdout {_score(scores[f'{metric}_holdout'])} "
                     f"(ceiling {_score(scores[f'{metric}_ceiling'])})")
    return "; ".join(parts)


def _setting(value) -> str:
    """A learner's setting as the operator sets it (a half-life of None is 0: never forget)."""
    if value is None:
        return "0"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------------------------------------------------
# The operator's commands (status, health, optimize, weights) are in operator.dashboard, the production loop's in
# operator.production; both read --as-of through this function.


def _as_of(args: argparse.Namespace):
    """`--as-of` (ISO 8601, naive = UTC) or the wall clock."""
    from xbot_assets.clock import WallClock
    from xbot_assets.ingest.parse import parse_timestamp

    value = getattr(args, "as_of", None)
    return parse_timestamp(value, "--as-of") if value else WallClock().now()


def cmd_serve(args: argparse.Namespace) -> int:
    """The UI and the daemon (schedules, sensors, run queue) for the code location in workspace.yaml, and the
    operator's dashboards at http://HOST:DASHBOARD_PORT/<account>.html (a static server of XBOT_DASHBOARD_DIR)."""
    import os
    import shutil
    import subprocess
    import threading

    from xbot_assets.pages.dashboard import dashboard_dir, page_server
    from xbot_assets.project import ensure_manifest
    from xbot_assets.settings import PROJECT_ROOT

    ensure_manifest()
    pages = dashboard_dir()
    server = page_server(args.host, args.dashboard_port, pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The asset's metadata links the pages here (the env reaches the code server dagster dev starts).
    os.environ.setdefault("XBOT_DASHBOARD_URL", f"http://{args.host}:{args.dashboard_port}")
    dagster = shutil.which("dagster") or str(Path(sys.executable).parent / "dagster")
    command = [dagster, "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", args.host, "-p", str(args.port)]
    print(f"xbot serve: {' '.join(command)} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})", flush=True)
    print(f"dashboards: http://{args.host}:{args.dashboard_port}/ (from {pages})", flush=True)
    child = subprocess.Popen(command, cwd=PROJECT_ROOT)
    try:
        return child.wait()
    except KeyboardInterrupt:  # Ctrl-C reached dagster dev too (same process group): let it stop UI and daemon
        return child.wait()
    finally:
        server.shutdown()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xbot", description="The learning brain of an autonomous X account.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the Dagster UI and daemon (dagster dev -w workspace.yaml) and serve "
                                         "the operator's dashboards")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--dashboard-port", type=int, default=3001, help="where the dashboards are served")
    serve.set_defaults(func=cmd_serve)

    add_load_parser(sub)
    add_ope_parser(sub)

    refresh = sub.add_parser("refresh", help="materialize everything downstream of the raw tables through Dagster")
    refresh.add_argument("--as-of", default=None, help="the 'now' of the 7-day windows (ISO 8601, UTC); default: now")
    refresh.add_argument("--full-refresh", action="store_true",
                         help="rebuild the incremental marts from all of history instead of what changed")
    refresh.set_defaults(func=cmd_refresh)

    demo = sub.add_parser("demo", help="the closed loop for N simulated days through Dagster, with an HTML report")
    demo.add_argument("--days", type=int, default=30)
    demo.add_argument("--scenario", default=None, help="scenario YAML (default: scenarios/default.yaml)")
    demo.add_argument("--account", default="demo", help="account_id the simulated posts are written under")
    demo.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    demo.add_argument("--generator-policy", choices=["weights", "posterior"], default=None,
                      help="how the learning account picks generators: by sampling each generator's posterior "
                           "followers per 1000 impressions, or by the seed's optimized weights (default: what a "
                           "new account gets, acting.planner.DEFAULT_GENERATOR_POLICY)")
    demo.add_argument("--report", default=None, help="where to write the HTML report (default .xbot/report.html)")
    demo.add_argument("--generator", choices=["offline", "llm"], default="offline",
                      help="who writes the learning account's posts (llm: OPENAI_BASE_URL, OPENAI_API_KEY, "
                           "XBOT_LLM_MODEL)")
    demo.add_argument("--profile", default=None, help="with --generator llm: the account profile YAML (default: "
                      "a built-in health-habits profile)")
    demo.set_defaults(func=cmd_demo)

    evaluate = sub.add_parser("evaluate", help="learning on vs the static defaults (uniform content types, fixed "
                              "hours, default weights, no model gate) on a scenario, as JSON")
    evaluate.add_argument("--scenario", required=True, help="scenario name (scenarios/) or YAML file")
    evaluate.add_argument("--days", type=int, default=60)
    evaluate.add_argument("--seeds", type=int, default=1, help="seeds: the scenario's seed and the next K-1")
    evaluate.add_argument("--json", action="store_true", help="print the JSON object only")
    evaluate.add_argument("--ope", action="store_true", help="also check the off-policy estimators against the "
                          "truth: the seed weights estimated from the learning account's logs vs the static run")
    evaluate.add_argument("--reported-follows", choices=["on", "off"], default=None,
                          help="whether the simulated platform reports each post's follows (default: the "
                               "scenario's reported_follows, true unless it says false); off: only the follower "
                               "count, so follows are attributed")
    evaluate.add_argument("--jobs", type=int, default=1,
                          help="run the seeds in this many processes, each its own loop and warehouse (default 1: "
                               "one loop for every seed); the numbers are the same, the time is not")
    evaluate.set_defaults(func=cmd_evaluate)

    from xbot_assets.operator.dashboard import add_commands as add_operator_commands

    add_operator_commands(sub)

    from xbot_assets.operator.production import add_commands

    add_commands(sub)
    return parser


# A command that cannot open the warehouse exits as `xbot health` does for a critical verdict.
WAREHOUSE_UNAVAILABLE_EXIT = 2


def _warehouse_unavailable(exc: BaseException):
    """The WarehouseUnavailable that `exc` is or was raised from (a Dagster step wraps it), else None."""
    from xbot_assets.warehouse.connection import WarehouseUnavailable

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, WarehouseUnavailable):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


# The exit code of a program stopped by SIGPIPE (128 + 13), what `git log | head` leaves too.
BROKEN_PIPE_EXIT = 141


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:  # --help, or a usage error: what argparse printed may meet a closed pipe when flushed
            sys.stdout.flush()
            raise
        prepare_environment()
        try:
            code = args.func(args)
        except ValueError as exc:  # bad settings or input: say what, not a traceback
            print(f"xbot {args.command}: {exc}", file=sys.stderr)
            code = 2
        except Exception as exc:
            unavailable = _warehouse_unavailable(exc)
            if unavailable is None:
                raise
            # Which warehouse and the driver's reason, on one line; for health this is the critical verdict.
            print(f"xbot {args.command}: {unavailable}", file=sys.stderr)
            code = WAREHOUSE_UNAVAILABLE_EXIT
        sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader went away (`xbot status | head`): the rest of the output has nowhere to go, which is no error.
        # stdout is pointed at /dev/null so the interpreter's own flush at exit does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_EXIT


if __name__ == "__main__":
    sys.exit(main())
