"""Faults of the warehouse itself, on DuckDB and PostgreSQL: a transform run that fails half-way, a connection that
dies inside a transaction, a warehouse the operator's commands cannot reach."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import datetime

import dagster as dg
import pandas as pd
import psycopg2
import pytest
from test_dbt_models import FOLLOWER_COLUMNS, FOLLOWERS, METRIC_COLUMNS, METRICS, POST_COLUMNS, POSTS, post

from xbot_assets.defs.ingest import raw_tables
from xbot_assets.defs.resources import ClockResource, WarehouseResource
from xbot_assets.defs.transform import xbot_dbt_assets
from xbot_assets.operator.cli import main
from xbot_assets.warehouse.connection import Warehouse
from xbot_assets.warehouse.values import to_python

NOW = datetime(2026, 1, 10, 12)
DBT_SCHEMAS = ("staging", "intermediate", "analytics")


def _transform(url: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [raw_tables, xbot_dbt_assets],
        resources={"warehouse": WarehouseResource(url=url), "clock": ClockResource(simulated_now=NOW.isoformat())},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _relation_rows(wh: Warehouse) -> dict[str, int | None]:
    """Every relation dbt made → its row count, or None when it is listed but cannot be queried."""
    with wh.connect() as conn:
        names = [f"{s}.{t}" for s, t in conn.fetchall(
            "select table_schema, table_name from information_schema.tables where table_schema in (?, ?, ?)",
            list(DBT_SCHEMAS))]
    rows: dict[str, int | None] = {}
    for name in sorted(names):
        try:
            with wh.connect() as conn:
                rows[name] = int(conn.scalar(f"select count(*) from {name}"))
        except Exception:  # a view whose base relation is gone is listed but not queryable
            rows[name] = None
    return rows


def test_a_transform_run_failing_half_way_leaves_every_relation_of_the_last_success(warehouse_url, fault):
    fault.expect("crash", "dbt run fails after the staging views were rebuilt (a staging test errors)",
                 "run fails; every staging, intermediate and mart relation of the last success exists and answers")
    wh = Warehouse.from_url(warehouse_url)
    wh.migrate()
    with wh.connect() as conn:
        conn.insert_rows("raw.posts", POST_COLUMNS, POSTS)
        conn.insert_rows("raw.metric_snapshots", METRIC_COLUMNS, METRICS)
        conn.insert_rows("raw.follower_snapshots", FOLLOWER_COLUMNS, FOLLOWERS)
    assert _transform(warehouse_url).success
    before = _relation_rows(wh)
    assert len(before) == 13 and None not in before.values()  # 4 staging, 3 intermediate, 6 marts

    # A row no loader would accept (a status outside the state machine), written past the loaders: stg_posts is
    # rebuilt, its accepted_values test errors, and dbt skips everything downstream of it.
    with wh.connect() as conn:
        conn.insert_rows("raw.posts", POST_COLUMNS, [post("bad", "acct_a", "single", "myth_busting", "coach",
                                                          datetime(2026, 1, 10, 10), status="lost")])
    failed = _transform(warehouse_url)
    assert not failed.success

    after = _relation_rows(wh)
    missing = sorted(name for name in before if after.get(name) is None)
    rows_lost = sum(before[name] - (after.get(name) or 0) for name in before if (after.get(name) or 0) < before[name])
    fault.measure(f"run failed; {len(before) - len(missing)}/{len(before)} relations answer, missing: "
                  f"{', '.join(missing) or 'none'}", rows_lost=rows_lost)
    assert missing == [] and rows_lost == 0


def test_a_connection_killed_inside_a_transaction_raises_its_own_cause(pg_url, fault):
    """PostgreSQL only: DuckDB runs inside the process, it has no connection another session can kill."""
    fault.expect("infrastructure", "PostgreSQL backend terminated mid-transaction (pg_terminate_backend)",
                 "the driver's error (the server closed the connection) is raised, not the rollback's 'connection already "
                 "closed'; the transaction's rows are not written")
    wh = Warehouse.from_url(pg_url)
    wh.migrate()
    admin = psycopg2.connect(pg_url)
    admin.autocommit = True
    try:
        with pytest.raises(psycopg2.OperationalError) as caught:
            with wh.connect() as conn:
                conn.execute("insert into raw.follower_snapshots (account_id, collected_at, followers, source, "
                             "loaded_at) values ('acct', ?, 10, 'real', ?)", [NOW, NOW])
                with admin.cursor() as cur:
                    cur.execute("select pg_terminate_backend(?)".replace("?", "%s"),
                                [conn.scalar("select pg_backend_pid()")])
                conn.scalar("select count(*) from raw.follower_snapshots")
    finally:
        admin.close()
    message = str(caught.value)
    with wh.connect() as conn:
        written = conn.scalar("select count(*) from raw.follower_snapshots")
    fault.measure(f"raised {type(caught.value).__name__}: {' '.join(message.split())[:70]}; "
                  f"rows written {written}", rows_lost=0)
    assert "terminat" in message or "server closed the connection unexpectedly" in message
    assert "connection already closed" not in message
    assert written == 0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the socket is closed: connect is refused


@pytest.fixture(params=["postgres", "duckdb"])
def unreachable_warehouse(request, tmp_path):
    """(XBOT_WAREHOUSE, what the one line must name, the driver's reason): PostgreSQL on a closed port, or a DuckDB
    file another process holds open for writing."""
    if request.param == "postgres":
        port = _closed_port()
        yield (f"postgresql://xbot:s3cret-pw@127.0.0.1:{port}/xbot", f"postgresql://xbot@127.0.0.1:{port}/xbot",
               "Connection refused")
        return
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "c.execute('create table t (x int)'); print('held', flush=True); time.sleep(120)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield str(path), f"duckdb:{path}", "Could not set lock on file"
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("command", [["health"], ["status", "--no-jobs"], ["accounts", "list"]])
def test_operator_commands_on_an_unreachable_warehouse_say_so_on_one_line(
        unreachable_warehouse, command, monkeypatch, tmp_path, capsys, fault):
    url, named, reason = unreachable_warehouse
    kind = "PostgreSQL on a closed port" if url.startswith("postgresql") else "DuckDB file held by another process"
    fault.expect("infrastructure", f"warehouse unreachable: {kind}",
                 "status, health, accounts list: one line naming the warehouse (no password) and the driver's "
                 "reason; exit 2, no traceback")
    monkeypatch.setenv("XBOT_WAREHOUSE", url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    code = main(command)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    traceback = "a traceback" if "Traceback" in err else "no traceback"
    fault.measure(f"xbot {' '.join(command)}: exit {code}, {len(lines)} line(s) on stderr, {traceback}")
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(f"xbot {command[0]}: warehouse {named} is unavailable: ")
    assert reason in lines[0] and "s3cret" not in err + out and "Traceback" not in err


def test_frames_follow_one_missing_value_convention_on_both_engines(duckdb_url, pg_url):
    """The same queries give equal frames on DuckDB and PostgreSQL: numpy numbers with NaN, object text and booleans
    with None, naive datetime64[us] with NaT, the same dtypes for an empty result (warehouse.values)."""
    table = ("create table scratch.readings (label varchar, n bigint, x double precision, flag boolean, "
             "seen_at timestamp, amount numeric(10, 2), doc text)")
    rows = [("a", 1, 0.5, True, datetime(2026, 1, 10, 1), 2.25, '["one"]'),
            ("b", None, None, None, None, None, None),
            ("c", 3, 1.5, False, datetime(2026, 1, 10, 3), 4.5, "")]
    query = "select label, n, x, flag, seen_at, amount, doc, n * 2 as doubled from scratch.readings order by label"
    aggregate = "select count(*) as rows_read, sum(n) as n_total, max(seen_at) as newest from scratch.readings"
    frames = {}
    for url in (duckdb_url, pg_url):
        wh = Warehouse.from_url(url)
        with wh.connect() as conn:
            conn.execute("create schema if not exists scratch")
            conn.execute(table)
            empty = conn.fetch_df(query)
            conn.insert_rows("scratch.readings", ["label", "n", "x", "flag", "seen_at", "amount", "doc"], rows)
            frames[wh.kind] = (empty, conn.fetch_df(query), conn.fetch_df(aggregate))
            # The few-row look-up gives what the frame gives, value by value (numeric's Decimal a float, NULL None).
            for sql in (query, aggregate):
                assert conn.fetch_records(sql) == [{k: to_python(v) for k, v in rec.items()}
                                                   for rec in conn.fetch_df(sql).to_dict("records")]
    for duck, pg in zip(frames["duckdb"], frames["postgres"], strict=True):
        pd.testing.assert_frame_equal(duck, pg)
    empty, full, totals = frames["duckdb"]
    assert empty.dtypes.astype(str).tolist() == [
        "object", "int64", "float64", "bool", "datetime64[us]", "float64", "object", "int64"]
    assert full.dtypes.astype(str).tolist() == [
        "object", "float64", "float64", "object", "datetime64[us]", "float64", "object", "float64"]
    missing = full.iloc[1]
    assert missing["doc"] is None and missing["flag"] is None and pd.isna(missing["n"]) and missing["seen_at"] is pd.NaT
    assert full["flag"].tolist() == [True, None, False] and full["doc"].tolist() == ['["one"]', None, ""]
    assert full["amount"].tolist()[::2] == [2.25, 4.5]
    assert totals.to_dict("records") == [{"rows_read": 3, "n_total": 4.0, "newest": pd.Timestamp(2026, 1, 10, 3)}]
