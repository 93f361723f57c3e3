"""How fast `xbot load x-analytics` imports a large X export, and the memory it takes, measured in one run.

Writes a per-post export of N rows (X's current format: quoted dates, ids that carry their time), loads it into a
fresh warehouse in this process, then loads it again (nothing changes: the idempotent path). Prints rows/s for both
and the process's peak resident memory before and after. Usage:

    .venv/bin/python benchmarks/import_speed.py [--rows 50000] [--warehouse postgresql://...]
"""

from __future__ import annotations

import argparse
import atexit
import csv
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

HEADER = ["Post id", "Date", "Post text", "Post Link", "Impressions", "Likes", "Engagements", "Bookmarks", "Shares",
          "New follows", "Replies", "Reposts", "Profile visits", "Detail Expands", "URL Clicks", "Hashtag Clicks",
          "Permalink Clicks"]


def write_export(path: Path, rows: int, seed: int = 0) -> None:
    from xbot_assets.ingest.parse import snowflake_id

    rng = np.random.default_rng(seed)
    start = datetime(2020, 1, 1)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for i in range(rows):
            at = start + timedelta(minutes=int(i * 50 + rng.integers(0, 40)))
            tweet_id = snowflake_id(at, i % 4096)
            impressions = int(rng.integers(200, 20000))
            likes, reposts, replies = (int(rng.integers(0, impressions // 20)) for _ in range(3))
            out.writerow([tweet_id, at.strftime("%a, %b %-d, %Y"), f"Post {i}: {likes} readers liked this &amp; more",
                          f"https://x.com/me/status/{tweet_id}", f"{impressions:,}", likes, likes + reposts, 0, 0,
                          int(rng.integers(0, 5)), replies, reposts, int(rng.integers(0, 50)), 0, 0, 0, 0])


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--warehouse", default=None, help="a PostgreSQL URL (default: a fresh DuckDB file)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xbot-import-bench-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)  # the run leaves nothing in the temp folder
    os.environ["XBOT_WAREHOUSE"] = args.warehouse or str(work / "warehouse.duckdb")
    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")
    export = work / "account_analytics_content_2020-01-01_2026-11-30.csv"
    write_export(export, args.rows)
    from xbot_assets.operator.cli import main as xbot
    from xbot_assets.runtime import instance  # noqa: F401  (Dagster's own import cost is not the importer's)
    from xbot_assets.warehouse.connection import Warehouse

    Warehouse.from_url(os.environ["XBOT_WAREHOUSE"]).migrate()
    before = peak_mb()
    timings = []
    for label in ("first load", "same file again"):
        started = time.perf_counter()
        assert xbot(["load", "x-analytics", str(export), "--account", "bench"]) == 0
        timings.append((label, time.perf_counter() - started))
    print(f"\n{args.rows:,} rows, {export.stat().st_size / 1e6:.1f} MB, warehouse {os.environ['XBOT_WAREHOUSE']}",
          file=sys.stderr)
    for label, seconds in timings:
        print(f"{label}: {seconds:.1f} s, {args.rows / seconds:,.0f} rows/s", file=sys.stderr)
    print(f"peak resident memory: {before:.0f} MB after imports and setup, {peak_mb():.0f} MB after the loads "
          f"(+{peak_mb() - before:.0f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
