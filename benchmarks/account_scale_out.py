"""One learning cycle of many accounts on PostgreSQL: one run over every account, against one run per account.

The learn, act and report assets are partitioned by account (xbot_assets/defs/partitions.py); the dbt marts are
set-based. A fresh PostgreSQL database gets --accounts simulator accounts (registered, so each has its partition),
each with --days of simulated history of the default scenario. Then, in one process, measured in one run:
  1. the marts: one run of the dbt assets (unpartitioned, every account at once);
  2. one ranged run of the learn, act and report assets over every account (what `xbot refresh` does);
  3. the same assets as one run per account, one after the other (what the schedules, the retrain sensor, the
     automation and a backfill launch; a run launcher spreads them over workers).
Printed: each part's wall time; per-account runs' mean, median and 95th percentile and how one divides into the
steps' own time and Dagster's time around them; and the cycle's wall time with W workers, computed from the measured
runs (marts + the per-account runs dealt round-robin to W workers), next to the single ranged run. Usage:

    .venv/bin/python benchmarks/account_scale_out.py [--accounts 100] [--days 16] [--pg-admin-url URL]
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _step_seconds(result) -> float:
    return sum(e.event_specific_data.duration_ms / 1000 for e in result.all_events
               if e.event_type_value == "STEP_SUCCESS")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--days", type=int, default=16, help="history per account (16: enough posts for models)")
    parser.add_argument("--pg-admin-url", default=os.environ.get(
        "XBOT_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    import psycopg2

    from xbot_assets.settings import WarehouseTarget

    admin_target = WarehouseTarget.parse(args.pg_admin_url)
    admin = psycopg2.connect(host=admin_target.host, port=admin_target.port, user=admin_target.user,
                             password=admin_target.password, dbname=admin_target.dbname)
    admin.autocommit = True
    name = f"xbot_bench_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f"create database {name}")
    auth = admin_target.user + (f":{admin_target.password}" if admin_target.password else "")
    work = Path(tempfile.mkdtemp(prefix="xbot-scale-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)  # the run leaves nothing in the temp folder
    os.environ["XBOT_WAREHOUSE"] = f"postgresql://{auth}@{admin_target.host}:{admin_target.port}/{name}"
    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    os.environ.pop("XBOT_REDIS_URL", None)
    try:
        run(args)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"drop database if exists {name} with (force)")
        admin.close()


def run(args: argparse.Namespace) -> None:
    import dagster as dg

    from xbot_assets.acting.accounts import Account, register_account
    from xbot_assets.evaluation.static_history import simulate_static_history
    from xbot_assets.ingest.load import write_follower_snapshots, write_posts
    from xbot_assets.ingest.metrics import write_metric_snapshots
    from xbot_assets.runtime.instance import definitions, instance, prepare_environment, run_job
    from xbot_assets.settings import WarehouseTarget
    from xbot_assets.simulation.scenario import load_scenario
    from xbot_assets.warehouse.connection import Warehouse

    prepare_environment()
    wh = Warehouse(WarehouseTarget.from_env())
    wh.migrate()
    scenario = load_scenario("default")
    accounts = [f"acct{i:03d}" for i in range(args.accounts)]
    began = time.perf_counter()
    now = None
    posts = 0
    with wh.connect() as conn:
        for i, account_id in enumerate(accounts):
            history = simulate_static_history(scenario, args.days, account_id, seed=i)
            now = history.end
            posts += write_posts(conn, history.posts, now=now).loaded
            write_metric_snapshots(conn, history.metric_snapshots, now=now)
            write_follower_snapshots(conn, history.follower_snapshots, now=now)
    for i, account_id in enumerate(accounts):
        register_account(wh, Account(account_id, sim_seed=i), now)
    print(f"{args.accounts} accounts × {args.days} days of history: {posts} posts, written in "
          f"{time.perf_counter() - began:.1f}s (not part of the cycle)")

    graph = definitions().resolve_asset_graph()
    job_keys = definitions().resolve_job_def("refresh_job").asset_layer.selected_asset_keys
    marts = [k for k in job_keys if graph.get(k).partitions_def is None and k.path[0] != "raw"]
    per_account = sorted((k for k in job_keys if graph.get(k).partitions_def is not None),
                         key=lambda k: k.to_user_string())
    inst = instance()

    def timed(selection: list[dg.AssetKey], accounts_in_run: list[str] | None):
        started = time.perf_counter()
        result = run_job("refresh_job", now=now, selection=selection, accounts=accounts_in_run, on_instance=inst,
                         console_log_level="WARNING", tags={"xbot/trigger": "benchmark"})
        elapsed = time.perf_counter() - started
        if not result.success:
            raise SystemExit(f"run {result.run_id} failed")
        return elapsed, _step_seconds(result)

    timed(marts, accounts)  # warm-up: dbt imported and parsed, the marts built once
    marts_s, marts_steps = timed(marts, accounts)
    print(f"\n1. marts (dbt, every account at once): {marts_s:.1f}s (steps {marts_steps:.1f}s)")
    ranged_s, ranged_steps = timed(per_account, accounts)
    print(f"2. one run over all {len(accounts)} accounts ({len(per_account)} assets): {ranged_s:.1f}s "
          f"(steps {ranged_steps:.1f}s, Dagster around them {ranged_s - ranged_steps:.1f}s)")
    runs, steps = [], []
    for account_id in accounts:
        elapsed, step = timed(per_account, [account_id])
        runs.append(elapsed)
        steps.append(step)
    total = sum(runs)
    q95 = statistics.quantiles(runs, n=20)[-1]
    print(f"3. one run per account: {len(runs)} runs, {total:.1f}s one after the other; per run mean "
          f"{statistics.mean(runs):.2f}s, median {statistics.median(runs):.2f}s, p95 {q95:.2f}s; of a run, the "
          f"steps {statistics.mean(steps):.2f}s and Dagster around them {statistics.mean(runs) - statistics.mean(steps):.2f}s")
    print(f"   sum of the per-account runs / the one ranged run: {total / ranged_s:.2f}×")

    print("\nthe cycle's wall time (marts, then the per-account runs dealt round-robin to W workers):")
    print(f"  {'workers':>8}  {'cycle (s)':>10}  {'vs one ranged run':>18}")
    print(f"  {'ranged':>8}  {marts_s + ranged_s:>10.1f}  {1.0:>17.2f}×")
    for workers in (1, 2, 4, 8, 16, 32):
        lanes = [sum(runs[i::workers]) for i in range(workers)]
        cycle = marts_s + max(lanes)
        print(f"  {workers:>8}  {cycle:>10.1f}  {cycle / (marts_s + ranged_s):>17.2f}×")
    print("(W > 2 is computed from the measured runs, not run: this machine has 2 cores)")


if __name__ == "__main__":
    main()
