"""The incremental marts give the tables a full refresh gives, on DuckDB and on PostgreSQL.

The fixture of tests/test_dbt_models.py (plus d1, a post that passes the learning gate and then stops passing) is
loaded in six steps, each with its own loaded_at and clock (XBOT_AS_OF), and `dbt build` runs after each:
  1 (01-05 15:00) a5 and a6 posted; a6's snapshot (a5's arrives in step 6, a week late)
  2 (01-09 00:00) the ten philosopher posts of 01-08 and their snapshots
  3 (01-10 09:30) what was posted and collected by 09:00; acct_b's 08:00 follower snapshot is held back
  4 (01-10 11:45) up to 11:30, built with another gate (gate_min_impressions 300) and time zone: every row changes
  5 (01-10 12:30) the rest but the late rows, the gate back to its default; d1's last snapshot has lost its counters
  6 (01-12 08:00) the late rows: a5's only snapshot, a1's 10:00 snapshot (it splits a1's 09:00-12:00 span), acct_a's
    10:00 follower snapshot (it splits the interval 07:00-11:00) and acct_b's 08:00 one (it closes acct_b's first
    interval, so b1 and b2 are attributed followers)
After steps 4 and 6 the incremental tables are read, `dbt build --full-refresh` rebuilds everything, and every row of
the five models must be the same (floats to 1e-9); the next step continues incrementally from the rebuilt tables.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import tempfile
from datetime import datetime

from test_dbt_models import (
    FOLLOWER_COLUMNS,
    FOLLOWERS,
    METRIC_COLUMNS,
    METRICS,
    PHILOSOPHER,
    POST_COLUMNS,
    POSTS,
    _dbt_executable,
    post,
    snap,
    t,
)

from xbot_assets.settings import DBT_PROJECT_DIR, WarehouseTarget
from xbot_assets.warehouse.connection import Warehouse

# The models that are incremental and the columns that identify a row.
MODELS = {
    ("intermediate", "int_latest_metrics"): ("decision_id",),
    ("intermediate", "int_follower_attribution"): ("decision_id", "interval_start"),
    ("intermediate", "int_follower_intervals"): ("account_id", "interval_start"),
    ("analytics", "outcomes"): ("decision_id",),
    ("analytics", "training_set"): ("decision_id",),
}

STEPS = {
    1: datetime(2026, 1, 5, 15),
    2: datetime(2026, 1, 9, 0),
    3: datetime(2026, 1, 10, 9, 30),
    4: datetime(2026, 1, 10, 11, 45),
    5: datetime(2026, 1, 10, 12, 30),
    6: datetime(2026, 1, 12, 8),
}
# Step 4 builds with other learning-gate settings: rows no new data touched must change too.
STEP_ENV = {4: {"XBOT_GATE_MIN_IMPRESSIONS": "300", "XBOT_TIMEZONE": "Asia/Tokyo"}}

# d1 passes the gate at 09:00 (600 impressions) and not at 12:00 (counters unknown, 1 like): it must leave the
# training set.
EXTRA_POSTS = [post("d1", "acct_a", "single", "myth_busting", "dataNerd", t(10, 6))]
EXTRA_METRICS = [
    snap("d1", t(10, 9), 600, 3, 0, 0, 2),
    snap("d1", t(10, 12), None, 1, 0, 0, None),
]

LATE_METRICS = {("a5", t(2, 14)), ("a1", t(10, 10))}
LATE_FOLLOWERS = {("acct_a", t(10, 10)), ("acct_b", t(10, 8))}


def _step_of_time(at: datetime) -> int:
    """The first step whose load time is at or after `at` (a row is loaded once it exists)."""
    return next(step for step, loaded in STEPS.items() if loaded >= at)


def _steps() -> dict[int, dict[str, list[tuple]]]:
    rows: dict[int, dict[str, list[tuple]]] = {s: {"posts": [], "metrics": [], "followers": []} for s in STEPS}
    for p in POSTS + EXTRA_POSTS:
        record = dict(zip(POST_COLUMNS, p))
        step = _step_of_time(record["posted_at"] or record["created_at"])
        rows[step]["posts"].append(p[:-1] + (STEPS[step],))
    for m in METRICS + EXTRA_METRICS:
        record = dict(zip(METRIC_COLUMNS, m))
        late = (record["decision_id"], record["collected_at"]) in LATE_METRICS
        step = 6 if late else _step_of_time(record["collected_at"])
        rows[step]["metrics"].append(m[:-1] + (STEPS[step],))
    for f in FOLLOWERS:
        late = (f[0], f[1]) in LATE_FOLLOWERS
        step = 6 if late else _step_of_time(f[1])
        rows[step]["followers"].append(f[:-1] + (STEPS[step],))
    return rows


def _dbt(target: WarehouseTarget, step: int, command: str = "build", *args: str) -> subprocess.CompletedProcess:
    """`dbt <command>` with step `step`'s clock and vars (whatever its outcome)."""
    env = {**os.environ, **target.dbt_env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "XBOT_AS_OF": STEPS[step].isoformat(), **STEP_ENV.get(step, {})}
    for name in ("XBOT_GATE_MIN_IMPRESSIONS", "XBOT_TIMEZONE"):
        if name not in STEP_ENV.get(step, {}):
            env.pop(name, None)
    with tempfile.TemporaryDirectory(prefix="xbot-dbt-") as scratch:
        cmd = [_dbt_executable(), command, "--profiles-dir", ".", "--target-path", scratch, "--log-path", scratch,
               *args]
        return subprocess.run(cmd, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600)


def _dbt_build(target: WarehouseTarget, step: int, *, full_refresh: bool = False) -> str:
    proc = _dbt(target, step, "build", *(["--full-refresh"] if full_refresh else []))
    assert proc.returncode == 0, f"dbt build (step {step}) failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _load(wh: Warehouse, rows: dict[str, list[tuple]]) -> None:
    with wh.connect() as c:
        c.insert_rows("raw.posts", POST_COLUMNS, rows["posts"])
        c.insert_rows("raw.metric_snapshots", METRIC_COLUMNS, rows["metrics"])
        c.insert_rows("raw.follower_snapshots", FOLLOWER_COLUMNS, rows["followers"])


# Posts nothing loaded in steps 3 and 6 can change (a6 of 01-05, a philosopher post of 01-08), and their
# impressions. (The rows of the step before are in the lookback, var incremental_lookback_hours: recomputed.)
MARKED = {3: ("a6", 500), 6: (PHILOSOPHER[1], 200)}


def _impressions(wh: Warehouse, decision_id: str):
    with wh.connect() as c:
        return c.fetchall("select impressions from analytics.outcomes where decision_id = ?", [decision_id])[0][0]


def _set_impressions(wh: Warehouse, decision_id: str, value: int) -> None:
    with wh.connect() as c:
        c.execute("update analytics.outcomes set impressions = ? where decision_id = ?", [value, decision_id])


def _tables(wh: Warehouse) -> dict[str, dict[tuple, dict]]:
    out = {}
    with wh.connect() as c:
        for (schema, table), key in MODELS.items():
            cols = [r[0] for r in c.fetchall(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ?"
                " order by ordinal_position", [schema, table])]
            rows = [dict(zip(cols, r)) for r in c.fetchall(f"select {', '.join(cols)} from {schema}.{table}")]
            by_key = {tuple(r[k] for k in key): r for r in rows}
            assert len(by_key) == len(rows), f"{table}: duplicate keys"
            out[table] = by_key
    return out


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    return a == b


def _differences(incremental: dict, full: dict) -> list[str]:
    out = []
    for table, rows in full.items():
        mine = incremental[table]
        for key in sorted(set(rows) | set(mine), key=repr):
            if key not in mine:
                out.append(f"{table} {key}: missing from the incremental table")
            elif key not in rows:
                out.append(f"{table} {key}: only in the incremental table")
            else:
                out.extend(f"{table} {key} {col}: incremental {mine[key][col]!r} != full {value!r}"
                           for col, value in rows[key].items() if not _same(mine[key].get(col), value))
    return out


# The PostgreSQL indexes the models' post-hooks keep (xbot_index): table -> the column lists of its indexes.
INDEXES = {
    "int_latest_metrics": [("account_id", "last_collected_at"), ("decision_id",)],
    "int_follower_attribution": [("account_id", "interval_start"), ("decision_id",)],
    "int_follower_intervals": [("account_id", "interval_start")],
    "outcomes": [("decision_id",)],
    "training_set": [("decision_id",)],
}


def _indexes(wh: Warehouse) -> dict[str, list[tuple[str, ...]]]:
    found: dict[str, list[tuple[str, ...]]] = {}
    with wh.connect() as c:
        for table, columns in c.fetchall("""
            select t.relname, (
                select array_agg(a.attname::text order by k.position)
                from unnest(i.indkey::int2[]) with ordinality as k(attnum, position)
                inner join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = k.attnum
            )
            from pg_index as i
            inner join pg_class as t on t.oid = i.indrelid
            inner join pg_namespace as n on n.oid = t.relnamespace
            where n.nspname in ('intermediate', 'analytics')
        """):
            found.setdefault(table, []).append(tuple(columns))
    return {table: sorted(columns) for table, columns in found.items()}


def test_incremental_builds_equal_a_full_refresh(warehouse_url):
    target = WarehouseTarget.parse(warehouse_url)
    wh = Warehouse(target)
    wh.migrate()
    for step, rows in _steps().items():
        _load(wh, rows)
        _dbt_build(target, step)
        # A stored row no new data touches is kept as it is (proof the build was incremental), unless a var changed.
        if step in (3, 6):
            decision_id, impressions = MARKED[step]
            assert _impressions(wh, decision_id) == -1, f"step {step} recomputed {decision_id}"
            _set_impressions(wh, decision_id, impressions)
        if step in (2, 5):
            _set_impressions(wh, MARKED[step + 1][0], -1)
        if step == 3:
            _set_impressions(wh, MARKED[3][0], -1)
        if step == 4:
            assert _impressions(wh, MARKED[3][0]) == MARKED[3][1], "a changed var recomputes every row"
        if step in (4, 6):
            incremental = _tables(wh)
            _dbt_build(target, step, full_refresh=True)
            full = _tables(wh)
            assert _differences(incremental, full) == [], f"after step {step}"
            assert full["training_set"], "something passes the gate"
            if target.kind == "postgres":  # the full refresh's new tables have their indexes, each once
                assert _indexes(wh) == INDEXES, f"after step {step}"
    if target.kind == "postgres":
        assert _indexes(wh) == INDEXES  # the builds after a full refresh add none
    final = _tables(wh)
    # The late rows did their work: acct_b's closed interval attributes b1 and b2, acct_a's split interval exists,
    # a5 has its counters, d1 left the training set and a1 counts its late snapshot.
    assert ("b1", t(10, 6)) in final["int_follower_attribution"]
    assert ("acct_a", t(10, 10)) in final["int_follower_intervals"]
    assert final["outcomes"][("a5",)]["impressions"] == 1000
    assert ("d1",) in final["outcomes"] and ("d1",) not in final["training_set"]
    assert final["int_latest_metrics"][("a1",)]["snapshot_count"] == 3
    # Each model's high-water mark is its table's comment: the newest loaded_at its last build saw.
    with wh.connect() as c:
        for schema, name in MODELS:
            comment = c.scalar(
                "select obj_description(to_regclass(?), 'pg_class')" if target.kind == "postgres" else
                "select comment from duckdb_tables() where schema_name || '.' || table_name = ?", [f"{schema}.{name}"])
            assert json.loads(comment)["loaded_through"].startswith(str(STEPS[6])), (name, comment)


def test_models_do_not_read_the_clock():
    """Rows kept from an earlier build would be wrong if a model read "now": none of the incremental ones does."""
    from xbot_assets.project import dbt_project

    manifest = json.loads(dbt_project.manifest_path.read_text())
    incremental = [n for n in manifest["nodes"].values()
                   if n["resource_type"] == "model" and n["config"]["materialized"] == "incremental"]
    assert sorted(n["name"] for n in incremental) == sorted(name for _, name in MODELS)
    assert all("as_of" not in n["raw_code"] and "utc_now" not in n["raw_code"] for n in incremental)


def test_full_refresh_through_dagster(duckdb_url, tmp_path, monkeypatch):
    """The dbt step's config full_refresh (xbot refresh --full-refresh) rebuilds what the incremental path keeps: a
    stored row edited by hand survives an ordinary run and not a full refresh."""
    from xbot_assets.defs.transform import xbot_dbt_assets
    from xbot_assets.runtime.instance import run_job

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("XBOT_WAREHOUSE", duckdb_url)
    wh = Warehouse.from_url(duckdb_url)
    wh.migrate()
    with wh.connect() as c:
        c.insert_rows("raw.posts", POST_COLUMNS, POSTS)
        c.insert_rows("raw.metric_snapshots", METRIC_COLUMNS, METRICS)
        c.insert_rows("raw.follower_snapshots", FOLLOWER_COLUMNS, FOLLOWERS)
        # Loaded two days after the rest (2026-01-10 12:30): the rest is out of the lookback behind it.
        c.insert_rows("raw.follower_snapshots", FOLLOWER_COLUMNS,
                      [("acct_c", t(12, 9), 215, "real", datetime(2026, 1, 12, 10))])
    keys = sorted(xbot_dbt_assets.keys, key=str)
    now = datetime(2026, 1, 12, 12)
    assert run_job("refresh_job", now=now, selection=keys).success
    _set_impressions(wh, "a1", -1)
    assert run_job("refresh_job", now=now, selection=keys).success
    assert _impressions(wh, "a1") == -1
    full = run_job("refresh_job", now=now, selection=keys, op_config={"xbot_dbt_assets": {"full_refresh": True}})
    assert full.success
    assert _impressions(wh, "a1") == 10000
