"""Where the time of one `xbot refresh` goes, measured in one run.

Prints the cost of importing the definitions, of building them, and of each step of the refresh job on a
simulated history, with each part's share of the whole. Usage:

    .venv/bin/python benchmarks/refresh_cost.py [--days 30] [--runs 3]

With --runs N > 1 the refresh runs N times in this one process (as the simulated closed loop does) and the split
is followed by each later run's dbt step and whole run: dbt is imported once and re-parses only what changed.

Then the same work bare, in this process, without Dagster: `dbt build` through dbtRunner and the learning fits
(bandit arms, the two models, generator posteriors, each account's weight optimization) called directly, twice (the
second is the one compared: dbt imported and parsed, as in the refresh's later runs). Printed: each bare part, the
ratio of the last refresh to the bare cycle, and where the difference goes (the refresh's steps the bare cycle does
not do, and Dagster's own time around the steps).
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
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


def bare_cycle(now, target_dir: Path) -> dict[str, float]:
    """One cycle's SQL and fits with no Dagster: seconds per part."""
    from dbt.cli.main import dbtRunner

    from xbot_assets.defs.transform import _release_duckdb
    from xbot_assets.learned.arms import learn_bandit_arms
    from xbot_assets.learned.models import learn_models
    from xbot_assets.learned.posteriors import PosteriorSettings, learn_generator_posteriors
    from xbot_assets.learned.store import LearningSettings, mart_accounts
    from xbot_assets.learned.weights import optimize
    from xbot_assets.learning.generator_weights import OptimizerSettings
    from xbot_assets.learning.predictors import ENGAGEMENT_MODEL, FOLLOW_MODEL
    from xbot_assets.settings import DBT_PROJECT_DIR, WarehouseTarget
    from xbot_assets.warehouse.connection import Warehouse

    target = WarehouseTarget.from_env()
    os.environ.update(target.dbt_env())
    os.environ["XBOT_AS_OF"] = now.isoformat(sep=" ")
    parts = {}
    started = time.perf_counter()
    result = dbtRunner().invoke([
        "build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target_dir), "--log-path", str(target_dir), "--quiet", "--no-send-anonymous-usage-stats",
    ])
    _release_duckdb()
    assert result.success, result.exception
    parts["dbt build"] = time.perf_counter() - started
    wh = Warehouse(target)
    settings = LearningSettings.from_env()
    fits = [
        ("bandit arms", lambda: learn_bandit_arms(wh, now, settings)),
        ("engagement model", lambda: learn_models(wh, ENGAGEMENT_MODEL, now, settings)),
        ("follow model", lambda: learn_models(wh, FOLLOW_MODEL, now, settings)),
        ("generator posteriors", lambda: learn_generator_posteriors(wh, now, PosteriorSettings.from_env())),
    ]
    for name, fit in fits:
        started = time.perf_counter()
        fit()
        parts[name] = time.perf_counter() - started
    started = time.perf_counter()
    with wh.connect() as conn:
        accounts = mart_accounts(conn, "generator_performance")
    for account in accounts:
        optimize(wh, account, now, settings=OptimizerSettings(), window_days=settings.learning_window_days, force=True)
    parts["weight optimization"] = time.perf_counter() - started
    return parts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=1, help="refreshes in this process (the split is the first's)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xbot-bench-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)  # the run leaves nothing in the temp folder
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
    last_run, last_steps = t3 - t2, steps
    for n in range(2, args.runs + 1):
        started = time.perf_counter()
        again = run_job("refresh_job", now=now)
        seconds = time.perf_counter() - started
        assert again.success
        last_run, last_steps = seconds, {
            e.step_key: e.event_specific_data.duration_ms / 1000 for e in again.all_events
            if e.event_type_value == "STEP_SUCCESS"
        }
        print(f"run {n} in this process: step xbot_dbt_assets {last_steps['xbot_dbt_assets']:.2f}s, "
              f"whole run {seconds:.2f}s")

    bare_dir = work / "bare_target"
    bare_cycle(now, bare_dir)  # the first pays dbt's full parse into a target folder of its own
    bare = bare_cycle(now, bare_dir)
    bare_total = sum(bare.values())
    print(f"\n{'the same cycle bare (no Dagster)':<34}{'seconds':>8}")
    for name, seconds in bare.items():
        print(f"{name:<34}{seconds:>8.2f}")
    print(f"{'total':<34}{bare_total:>8.2f}")
    print(f"refresh run {max(args.runs, 1)} / bare cycle: {last_run / bare_total:.1f}x "
          f"(and with definitions' import and build, as one `xbot refresh` process pays: "
          f"{(import_s + build_s + last_run) / bare_total:.1f}x)")
    fit_steps = {k for k in last_steps if k.split("__")[-1] in (
        "xbot_dbt_assets", "bandit_arms", "engagement_model", "follow_model", "generator_posterior",
        "generator_weights")}
    in_both = sum(v for k, v in last_steps.items() if k in fit_steps)
    print(f"where the rest of the refresh goes: the same work as Dagster steps {in_both:.2f}s "
          f"(vs {bare_total:.2f}s bare); other steps {sum(last_steps.values()) - in_both:.2f}s "
          + "(" + ", ".join(f"{k} {v:.2f}s" for k, v in sorted(last_steps.items(), key=lambda kv: -kv[1])
                            if k not in fit_steps) + "); "
          f"Dagster around the steps (events, storage, run start) {last_run - sum(last_steps.values()):.2f}s")


if __name__ == "__main__":
    main()
