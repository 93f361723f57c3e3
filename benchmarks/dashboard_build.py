"""How long one operator dashboard takes to build for an account with N posts, measured in one run.

Imports a per-post X export of N rows (benchmarks/import_speed.py writes it: one post every 50 minutes, so 10,000
posts span about a year), runs `xbot refresh` once (dbt and the learning), then builds the account's page for the
default 30-day period and for a period holding every post, split into reading the warehouse and rendering the HTML.
The first build of a process also pays for vega's bundle (built once per process); it is timed apart. Usage:

    .venv/bin/python benchmarks/dashboard_build.py [--posts 10000] [--warehouse postgresql://...]
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_speed import write_export  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--warehouse", default=None, help="a PostgreSQL URL (default: a fresh DuckDB file)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xbot-dashboard-bench-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)  # the run leaves nothing in the temp folder
    os.environ["XBOT_WAREHOUSE"] = args.warehouse or str(work / "warehouse.duckdb")
    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")
    export = work / "account_analytics_content_2020-01-01_2020-12-31.csv"
    write_export(export, args.posts)

    from xbot_assets.operator.cli import main as xbot
    from xbot_assets.pages.charts import vega_bundle
    from xbot_assets.pages.dashboard import render_dashboard
    from xbot_assets.pages.data import read_dashboard
    from xbot_assets.warehouse.connection import Warehouse

    started = time.perf_counter()
    vega_bundle()  # before the refresh, whose operator_dashboard step would otherwise pay it unseen
    bundle_s = time.perf_counter() - started
    wh = Warehouse.from_url(os.environ["XBOT_WAREHOUSE"])
    assert xbot(["accounts", "add", "main", "--connector", "x-api", "--handle", "me"]) == 0
    assert xbot(["load", "x-analytics", str(export), "--collected-at", "2021-01-01T00:00:00Z"]) == 0
    with wh.connect() as conn:
        newest = conn.scalar("select max(posted_at) from raw.posts")
    as_of = newest + timedelta(hours=30)
    started = time.perf_counter()
    assert xbot(["refresh", "--as-of", as_of.isoformat() + "Z"]) == 0
    refresh_s = time.perf_counter() - started

    rows = []
    for days in (30, 400):
        started = time.perf_counter()
        data = read_dashboard(wh, "main", as_of, days)
        read_s = time.perf_counter() - started
        started = time.perf_counter()
        page = render_dashboard(data)
        render_s = time.perf_counter() - started
        rows.append((days, len(data.posts), read_s, render_s, len(page) / 1e6))
    print(f"\n{args.posts:,} imported posts on {wh.kind}; refresh (dbt + learning) {refresh_s:.1f} s; "
          f"vega bundle (once per process) {bundle_s:.2f} s")
    print("| period | posts shown | read warehouse (s) | render HTML (s) | build total (s) | page MB |")
    print("|---|---|---|---|---|---|")
    for days, posts, read_s, render_s, size in rows:
        print(f"| {days} days | {posts:,} | {read_s:.2f} | {render_s:.2f} | {read_s + render_s:.2f} | {size:.2f} |")
    print(f"ratio, every post vs 30 days: {(rows[1][2] + rows[1][3]) / (rows[0][2] + rows[0][3]):.1f}x")


if __name__ == "__main__":
    main()
