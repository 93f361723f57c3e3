"""The dbt cycle after one new day, at 10^4 and 10^5 posts (10^6 with --huge) on PostgreSQL: full rebuild vs incremental.

For each size a fresh database gets a history of N posts (≈30 counter snapshots each over the first 48 h, follower
snapshots every 3 h per account) written by bulk INSERT ... SELECT generate_series, never row by row. The daily
volume is the same at every size (--accounts × --posts-per-day); only the history grows, which is the cost the
incremental marts remove. Then, in one run:
  1. `dbt build` once (builds every table: not timed);
  2. one new day loaded (its posts, every snapshot collected that day, including older posts' later ones, and the
     follower snapshots), `dbt build` timed: after (incremental);
  3. the next day loaded, `dbt build --full-refresh` timed: before (a full rebuild of the same SQL).
Printed per size: wall time of dbt, the time dbt spent in models and in tests (run_results.json), and the ratios
between sizes. Usage:

    .venv/bin/python benchmarks/incremental_scale.py [--sizes 10000 100000] [--huge] [--without-raw-indexes]
                                                     [--slowest N] [--keep] [--skip-full-rebuild]
                                                     [--reuse DATABASE ...] [--pg-admin-url URL]

--reuse measures a database an earlier run kept (--keep) instead of generating one: the cycle after its next day,
with the same daily volume (its size is its count of posts). Generating and first building 10^6 posts takes ~20
minutes; the kept history makes the ratio between sizes measurable in one short run. A reused database changes (it
gains the day) and is kept.

xbot's migrations create the indexes the incremental filters look rows up by (migration 14, RAW_LOOKUP_INDEXES:
loaded_at of the three raw tables, and a post's snapshots by account and time). --without-raw-indexes drops them
first, to measure what they save: without them each filter reads the whole raw table on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xbot_assets.settings import DBT_PROJECT_DIR, WarehouseTarget  # noqa: E402
from xbot_assets.warehouse.connection import Warehouse  # noqa: E402
from xbot_assets.warehouse.migrations import RAW_LOOKUP_INDEXES  # noqa: E402

START = datetime(2020, 1, 1)
SNAPSHOTS = 30
SNAPSHOT_EVERY_HOURS = 1.6  # 30 snapshots over the first 48 h of a post
FOLLOWERS_EVERY_HOURS = 3



def _load(wh: Warehouse, lo: datetime, hi: datetime, accounts: int, per_day: int, loaded_at: str) -> None:
    """Everything that happens in (lo, hi]: posts posted, snapshots collected, follower counts read. `loaded_at` is
    an SQL expression (the history arrives as it is collected; a new day arrives at once, at its end)."""
    per_second = per_day / 86400.0
    first = int((lo - START).total_seconds() * per_second)
    last = int((hi - START).total_seconds() * per_second)
    lookback = int(2 * 86400 * per_second) + 1  # posts still collected in (lo, hi]
    posted = f"(timestamp '{START}' + (i / {per_second}) * interval '1 second')"
    with wh.connect() as c:
        c.execute(f"""
            insert into raw.posts (decision_id, account_id, status, decision_type, content, content_type,
                generator_name, topic, quality_score, novelty_score, expertise_score, viral_score, predicted_er,
                predicted_follow_prob, content_propensity, timing_propensity, generator_propensity, scheduled_at,
                posted_at, tweet_id, source, created_at, loaded_at)
            select 'd' || i, 'acct_' || mod(i, {accounts}), 'posted', 'single', 'text ' || i,
                (array['educational_thread', 'factual_single', 'myth_busting', 'wellness_tip'])[1 + mod(i, 4)],
                (array['dataNerd', 'humanVoice', 'coach'])[1 + mod(i, 3)], 'sleep', 0.5, 0.5, 0.5, 0.5, 0.03, 0.5, 0.25,
                0.1, 0.3, p, p, 'tw' || i, 'simulated', p, {loaded_at.replace('{t}', 'p')}
            from (select i, {posted} as p from generate_series({first}, {last}) as g(i)) as s
            where p > timestamp '{lo}' and p <= timestamp '{hi}'
        """)
        c.execute(f"""
            insert into raw.metric_snapshots (account_id, decision_id, tweet_id, collected_at, impressions, likes,
                retweets, replies, quotes, bookmarks, profile_clicks, url_clicks, source, loaded_at)
            select 'acct_' || mod(i, {accounts}), 'd' || i, 'tw' || i, at, k * (100 + mod(i, 50)), k * (3 + mod(i, 5)),
                k / 3, k / 4, 0, 0, k * (1 + mod(i, 3)), 0, 'simulated', {loaded_at.replace('{t}', 'at')}
            from (
                select i, k, {posted} + (k * {SNAPSHOT_EVERY_HOURS}) * interval '1 hour' as at
                from generate_series({max(first - lookback, 0)}, {last}) as g(i),
                    generate_series(1, {SNAPSHOTS}) as h(k)
            ) as s
            where at > timestamp '{lo}' and at <= timestamp '{hi}'
                and at > timestamp '{START}' + (i / {per_second}) * interval '1 second'
        """)
        hours = int((hi - START).total_seconds() // 3600)
        c.execute(f"""
            insert into raw.follower_snapshots (account_id, collected_at, followers, source, loaded_at)
            select 'acct_' || a, at, 1000 + h * 2 + mod(h * 7 + a, 5), 'simulated', {loaded_at.replace('{t}', 'at')}
            from (
                select a, h, timestamp '{START}' + h * interval '1 hour' as at
                from generate_series(0, {accounts - 1}) as g(a),
                    generate_series(0, {hours}, {FOLLOWERS_EVERY_HOURS}) as t(h)
            ) as s
            where at > timestamp '{lo}' and at <= timestamp '{hi}'
        """)
        c.execute("analyze")


def _dbt(target: WarehouseTarget, as_of: datetime, *args: str) -> dict[str, float]:
    env = {**os.environ, **target.dbt_env(), "XBOT_AS_OF": as_of.isoformat(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "0"}
    with tempfile.TemporaryDirectory(prefix="xbot-bench-dbt-") as scratch:
        dbt = str(Path(sys.executable).with_name("dbt"))
        started = time.perf_counter()
        proc = subprocess.run([dbt, "build", "--profiles-dir", ".", "--target-path", scratch, "--log-path", scratch,
                               *args], cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"dbt build {' '.join(args)} failed:\n{proc.stdout[-4000:]}")
        results = json.loads((Path(scratch) / "run_results.json").read_text())["results"]
    split = {"wall": wall, "models": 0.0, "tests": 0.0, "incremental models": 0.0}
    nodes = {}
    for r in results:
        nodes[r["unique_id"].split(".", 2)[2]] = r["execution_time"]
        kind = "tests" if r["unique_id"].startswith("test.") else "models"
        split[kind] += r["execution_time"]
        name = r["unique_id"].rsplit(".", 1)[1]
        if name in ("int_latest_metrics", "int_follower_attribution", "int_follower_intervals", "outcomes",
                    "training_set"):
            split["incremental models"] += r["execution_time"]
            split[name] = r["execution_time"]
    return split, nodes


def _admin(url: str):
    import psycopg2

    t = WarehouseTarget.parse(url)
    conn = psycopg2.connect(host=t.host, port=t.port, user=t.user, password=t.password, dbname=t.dbname)
    conn.autocommit = True
    return conn, t


def _target(t: WarehouseTarget, name: str) -> WarehouseTarget:
    auth = t.user + (f":{t.password}" if t.password else "")
    return WarehouseTarget.parse(f"postgresql://{auth}@{t.host}:{t.port}/{name}")


def measure(size: int, args: argparse.Namespace, reuse: str | None = None) -> dict[str, dict[str, float]]:
    admin, t = _admin(args.pg_admin_url)
    name = reuse or f"xbot_bench_{uuid.uuid4().hex[:8]}"
    if reuse is None:
        with admin.cursor() as cur:
            cur.execute(f"create database {name}")
    target = _target(t, name)
    try:
        wh = Warehouse(target)
        per_day = args.accounts * args.posts_per_day
        if reuse is None:
            end = _generate(wh, size, args)
        else:
            with wh.connect() as c:
                newest = c.scalar("select max(posted_at) from raw.posts")
            # the history ends at a day boundary (START + whole days); a day already added moves it on
            end = START + timedelta(days=math.ceil((newest - START).total_seconds() / 86400))
            print(f"\n{size:,} posts (reused {name}, its next day after {end:%Y-%m-%d})", flush=True)
        out = {}
        cycles = (("after (incremental)", 0, ()), ("before (full rebuild)", 1, ("--full-refresh",)))
        for label, day, flags in cycles[:1] if args.skip_full_rebuild else cycles:
            lo, hi = end + timedelta(days=day), end + timedelta(days=day + 1)
            _load(wh, lo, hi, args.accounts, per_day, f"timestamp '{hi}'")
            out[label], nodes = _dbt(target, hi, *flags)
            s = out[label]
            print(f"  {label:<22} dbt {s['wall']:6.1f}s  models {s['models']:6.1f}s (the five incremental "
                  f"{s['incremental models']:6.1f}s)  tests {s['tests']:6.1f}s", flush=True)
            print("    " + ", ".join(f"{k} {v:.2f}s" for k, v in s.items() if k.startswith(("int_", "outcomes",
                                                                                               "training"))))
            for node, seconds in sorted(nodes.items(), key=lambda kv: -kv[1])[:args.slowest]:
                print(f"    {seconds:6.2f}s  {node}")
        return out
    finally:
        if args.keep or reuse is not None:
            print(f"  kept: {target.describe()} (drop it with: drop database {name} with (force))", flush=True)
        else:
            with admin.cursor() as cur:
                cur.execute(f"drop database if exists {name} with (force)")
        admin.close()


def _generate(wh: Warehouse, size: int, args: argparse.Namespace) -> datetime:
    """A history of `size` posts, built once (not timed); returns its end."""
    wh.migrate()
    if args.without_raw_indexes:
        with wh.connect() as c:
            for statement in RAW_LOOKUP_INDEXES:
                c.execute("drop index if exists raw." + statement.split(" exists ")[1].split(" on ")[0])
    days = size / (args.accounts * args.posts_per_day)
    end = START + timedelta(days=days)
    began = time.perf_counter()
    _load(wh, START - timedelta(seconds=1), end, args.accounts, args.accounts * args.posts_per_day, "{t}")
    with wh.connect() as c:
        counts = [c.scalar(f"select count(*) from raw.{tb}")
                  for tb in ("posts", "metric_snapshots", "follower_snapshots")]
    print(f"\n{size:,} posts ({days:.0f} days): {counts[0]:,} posts, {counts[1]:,} snapshots, "
          f"{counts[2]:,} follower snapshots generated in {time.perf_counter() - began:.1f}s", flush=True)
    first, _ = _dbt(wh.target, end)
    print(f"  first build (every table): {first['wall']:.1f}s", flush=True)
    return end


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--huge", action="store_true", help="also 10^6 posts (≈30 M snapshots: long)")
    parser.add_argument("--without-raw-indexes", action="store_true",
                        help="drop migration 14's RAW_LOOKUP_INDEXES before loading (to measure what they save)")
    parser.add_argument("--keep", action="store_true",
                        help="keep each size's database after the run, to look into (EXPLAIN) what a build did")
    parser.add_argument("--skip-full-rebuild", action="store_true",
                        help="measure only the incremental cycle (the full rebuild is the longest part at 10^6)")
    parser.add_argument("--slowest", type=int, default=0, metavar="N",
                        help="also print each build's N slowest nodes (models and data tests)")
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--posts-per-day", type=int, default=25, help="per account")
    parser.add_argument("--pg-admin-url", default=os.environ.get(
        "XBOT_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--reuse", nargs="+", default=[], metavar="DATABASE",
                        help="measure databases an earlier run kept (--keep) instead of generating their sizes")
    args = parser.parse_args()
    reused = {}
    for name in args.reuse:
        admin, t = _admin(args.pg_admin_url)
        admin.close()
        with Warehouse(_target(t, name)).connect() as c:
            reused[int(c.scalar("select count(*) from raw.posts"))] = name
    sizes = sorted(set(args.sizes + ([1_000_000] if args.huge else [])) | set(reused))
    results = {size: measure(size, args, reused.get(size)) for size in sizes}
    print(f"\nthe cycle after one new day ({args.accounts * args.posts_per_day} posts/day), dbt build on PostgreSQL"
          + (" without RAW_LOOKUP_INDEXES" if args.without_raw_indexes else ""))
    print(f"{'posts':>10}  {'before: full':>13}  {'after: incr.':>13}  {'before/after':>12}")
    for size, r in results.items():
        a = r["after (incremental)"]["wall"]
        b = r["before (full rebuild)"]["wall"] if "before (full rebuild)" in r else float("nan")
        print(f"{size:>10,}  {b:>12.1f}s  {a:>12.1f}s  {b / a:>11.1f}x")
    smallest = sizes[0]
    for size in sizes[1:]:
        for label in [label for label in ("before (full rebuild)", "after (incremental)") if label in results[size]]:
            for part in ("wall", "incremental models"):
                ratio = results[size][label][part] / results[smallest][label][part]
                print(f"{size:,} / {smallest:,} posts, {label}, {part}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
