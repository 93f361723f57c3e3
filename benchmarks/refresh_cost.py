"""Where the time of one `xbot refresh` goes, measured in one run.

Prints the cost of importing the definitions, of building them, and of each step of the refresh job on a
simulated history, with each part's share of the whole. Usage:

    .venv/bin/python benchmarks/refresh_cost.py [--days 30] [--runs 3]

With --runs N > 1 the refresh runs N times in this one process (as the simulated closed loop does) and the split
is followed by each later run's dbt step and whole run: dbt is imported once and re-parses only what changed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _child_import_seconds() -> tuple[float, float]:
    code = (
        "import time; t=time.perf_counter(); from xbot_assets.definitions import defs; t1=time.perf_counter(); "
        "defs().resolve_asset_graph(); print(t1-t, time.perf_counter()-t1)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=1, help="refreshes in this process (the split is the first's)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xbot-bench-"))
    os.environ["XBOT_WAREHOUSE"] = str(work / "warehouse.duckdb")
    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")

    import_s, build_s = _child_import_seconds()

    from xbot_assets.clock import SimulatedClock
    from xbot_assets.evaluation.static_history import simulate_static_history
    from xbot_assets.ingest.load import write_follower_snapshots, write_posts
    from xbot_assets.ingest.metrics import write_metric_snapshots
    from xbot_assets.runtime.instance import prepare_environment, run_job
    from xbot_assets.settings import WarehouseTarget
    from xbot_assets.simulation.scenario import load_scenario
    from xbot_assets.warehouse.connection import Warehouse

    prepare_environment()
    t0 = time.perf_counter()
    history = simulate_static_history(load_scenario("default"), args.days, "bench")
    t1 = time.perf_counter()
    wh = Warehouse(WarehouseTarget.from_env())
    wh.migrate()
    now = SimulatedClock(history.end).now()
    with wh.connect() as conn:
        write_posts(conn, history.posts, now=now)
        write_metric_snapshots(conn, history.metric_snapshots, now=now)
        write_follower_snapshots(conn, history.follower_snapshots, now=now)
    t2 = time.perf_counter()
    result = run_job("refresh_job", now=now)
    t3 = time.perf_counter()
    assert result.success
    steps = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            steps[event.step_key] = event.event_specific_data.duration_ms / 1000
    total = import_s + build_s + (t3 - t2)
    print(f"simulated history ({args.days} days, {len(history.posts)} posts): {t1 - t0:.2f}s")
    print(f"validated writes: {t2 - t1:.2f}s")
    print(f"{'part of one refresh':<34}{'seconds':>8}{'share':>8}")
    rows = [("import xbot_assets.definitions", import_s), ("build definitions", build_s)]
    rows += [(f"step {k}", v) for k, v in steps.items()]
    rows.append(("run overhead (Dagster events etc.)", (t3 - t2) - sum(steps.values())))
    for name, seconds in rows:
        print(f"{name:<34}{seconds:>8.2f}{seconds / total:>8.1%}")
    print(f"{'total':<34}{total:>8.2f}")
    for n in range(2, args.runs + 1):
        started = time.perf_counter()
        again = run_job("refresh_job", now=now)
        seconds = time.perf_counter() - started
        assert again.success
        dbt_step = sum(
            e.event_specific_data.duration_ms / 1000 for e in again.all_events
            if e.event_type_value == "STEP_SUCCESS" and e.step_key == "xbot_dbt_assets"
        )
        print(f"run {n} in this process: step xbot_dbt_assets {dbt_step:.2f}s, whole run {seconds:.2f}s")


if __name__ == "__main__":
    main()
