"""The whole production loop on the production stack (PostgreSQL warehouse and Dagster instance, Redis) against the
local X API server: `xbot accounts add` → `plan` → `publish` → `collect` → the sensors learn → the next plan uses it.

Every step is the CLI a operator types (one Dagster run each, recorded in the instance); the X server is the
platform. Time is the account's simulated "now" near today (the server's clock follows it), so the metric ages and
the learning windows behave as in production."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import redis
from services import REDIS_URL, throwaway_databases
from x_server import ACCESS_SECRET, ACCESS_TOKEN, CONSUMER_KEY, CONSUMER_SECRET, FakeXServer

from xbot_assets.defs import automation
from xbot_assets.evaluation.static_history import simulate_static_history
from xbot_assets.ingest.load import write_follower_snapshots, write_posts
from xbot_assets.ingest.metrics import write_metric_snapshots
from xbot_assets.operator.cli import main
from xbot_assets.runtime.instance import definitions, instance, report_raw_materialization
from xbot_assets.settings import WarehouseTarget
from xbot_assets.simulation.scenario import load_scenario
from xbot_assets.warehouse.connection import Warehouse

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "brand"


def _shift(rows: list[dict], delta: timedelta, account: str) -> list[dict]:
    out = []
    for row in rows:
        row = {k: (v + delta if isinstance(v, datetime) else v) for k, v in row.items()}
        row["account_id"] = account
        for key in ("decision_id", "tweet_id"):
            if row.get(key):
                row[key] = f"{account}-{row[key]}"
        out.append(row)
    return out


@pytest.fixture
def production(tmp_path, monkeypatch):
    databases = throwaway_databases(2)
    warehouse_url, dagster_url = databases.__enter__()
    t = WarehouseTarget.parse(dagster_url)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    server = FakeXServer(dialect="new").__enter__()
    for key, value in {
        "DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": t.host, "DAGSTER_PG_PORT": str(t.port),
        "DAGSTER_PG_USER": t.user, "DAGSTER_PG_PASSWORD": t.password, "DAGSTER_PG_DB": t.dbname,
        "XBOT_WAREHOUSE": warehouse_url, "XBOT_REDIS_URL": REDIS_URL,
        "XBOT_X_API_BASE_URL": server.url, "XBOT_X_API_KEY": CONSUMER_KEY, "XBOT_X_API_SECRET": CONSUMER_SECRET,
        "XBOT_X_ACCESS_TOKEN": ACCESS_TOKEN, "XBOT_X_ACCESS_SECRET": ACCESS_SECRET,
        "XBOT_X_RECONCILE_DELAY_SECONDS": "0", "XBOT_RETRAIN_MIN_NEW_OUTCOMES": "4",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv(automation.PRODUCTION_ENV, raising=False)
    definitions.cache_clear()
    try:
        yield server, Warehouse.from_url(warehouse_url)
    finally:
        definitions.cache_clear()
        server.__exit__(None, None, None)
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match="predictor:v2:*"):
            client.delete(key)
        client.close()
        databases.__exit__(None, None, None)


def _cli(*args: str) -> None:
    assert main(list(args)) == 0, f"xbot {' '.join(args)} failed"


def _tick(defs, inst, name: str, cursors: dict):
    sensor = defs.get_repository_def().get_sensor_def(name)
    # With the instance's ref, as the daemon gives it: partitioned run requests are resolved against it.
    context = dg.build_sensor_context(instance=inst, instance_ref=inst.get_ref(), cursor=cursors.get(name),
                                      definitions=defs, resources=defs.resources)
    data = sensor.evaluate_tick(context)
    cursors[name] = data.cursor
    return data


def _launch(defs, inst, request: dg.RunRequest, now: datetime) -> None:
    job = defs.resolve_job_def(request.job_name)
    result = job.execute_in_process(
        instance=inst, run_config={"resources": {"clock": {"config": {"simulated_now": now.isoformat()}}}},
        tags=request.tags, asset_selection=request.asset_selection, raise_on_error=False)
    assert result.success


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_production_loop_against_the_local_x_server(production, capsys):
    server, wh = production
    day0 = datetime(2026, 11, 29)  # fixed, so the run is the same every day: its plan holds a 3-part thread

    # An account, from the command line: dry run until --publish.
    _cli("accounts", "add", ACCOUNT, "--connector", "x-api", "--handle", "xbot_test", "--timezone", "UTC")
    _cli("accounts", "add", ACCOUNT, "--publish")

    # Its own past: 17 days of history ending at day0, and a first learning run.
    scenario = replace(load_scenario("default"), posts_per_day=4)
    history = simulate_static_history(scenario, 17, ACCOUNT)
    delta = day0 - history.end
    with wh.connect() as conn:
        for table, writer, rows in (("posts", write_posts, history.posts),
                                    ("metric_snapshots", write_metric_snapshots, history.metric_snapshots),
                                    ("follower_snapshots", write_follower_snapshots, history.follower_snapshots)):
            report = writer(conn, _shift(rows, delta, ACCOUNT), now=day0)
            report_raw_materialization(table, report.as_metadata(), "the account's history")
    server.state.me["followers"] = int(history.follower_snapshots[-1]["followers"])
    _cli("refresh", "--as-of", _iso(day0))
    inst, defs = instance(), definitions()
    cursors: dict = {}
    _tick(defs, inst, automation.AUTOMATION_SENSOR, cursors)  # the automation sensor's baseline
    with wh.connect() as conn:
        assert conn.fetchall("select model_name, version from learn.model_registry where account_id = ? order by 1",
                             [ACCOUNT]) == [("engagement_ridge", 1), ("follow_poisson", 1)]

    # Plan the day, publish each post at its time on the platform's clock.
    _cli("plan", "--account", ACCOUNT, "--as-of", _iso(day0))
    with wh.connect() as conn:
        queued = conn.fetchall("select decision_id, scheduled_at, content from raw.posts where account_id = ? and "
                               "status = 'queued' order by scheduled_at", [ACCOUNT])
    assert len(queued) == 4
    for _, scheduled_at, _ in queued:
        at = scheduled_at + timedelta(minutes=2)
        server.state.clock = lambda at=at: at
        _cli("publish", "--account", ACCOUNT, "--as-of", _iso(at))
        _cli("publish", "--account", ACCOUNT, "--as-of", _iso(at))  # a second run sends nothing twice
    # A thread's parts go out as replies under its root; the roots are the queued posts, each once.
    roots = [p for p in server.state.posts.values() if p.in_reply_to is None]
    assert sorted(p.text for p in roots) == sorted(c for _, _, c in queued)
    replies = [p for p in server.state.posts.values() if p.in_reply_to]
    assert replies and all(p.in_reply_to in server.state.posts for p in replies)
    with wh.connect() as conn:
        posted = dict(conn.fetchall("select decision_id, tweet_id from raw.posts where account_id = ? and "
                                    "status = 'posted' and tweet_id in ({})".format(
                                        ", ".join("?" for _ in server.state.posts)),
                                    [ACCOUNT, *server.state.posts]))
    assert len(posted) == 4

    # The platform counts; collect two days later (the models learn from posts at least 48 hours old): metrics
    # with reported follows, and the follower count.
    for post in server.state.posts.values():
        post.metrics.update(impressions=2400, likes=90, retweets=12, replies=6, profile_clicks=30, follows=5)
    server.state.me["followers"] += 21
    later = queued[-1][1] + timedelta(hours=49)
    server.state.clock = lambda: later
    _cli("collect", "--account", ACCOUNT, "--as-of", _iso(later))
    with wh.connect() as conn:
        follows = conn.fetchall("select decision_id, follows from raw.metric_snapshots where decision_id in ({})"
                                .format(", ".join("?" for _ in posted)), list(posted))
        followers = conn.scalar("select followers from raw.follower_snapshots where account_id = ? "
                                "order by collected_at desc limit 1", [ACCOUNT])
    assert len(follows) == 4 and {f for _, f in follows} == {5}
    assert followers == server.state.me["followers"]

    # The sensors see the new rows: transform + arms, then a retrain on the four new outcomes.
    requests = _tick(defs, inst, automation.AUTOMATION_SENSOR, cursors).run_requests
    assert len(requests) == 1
    _launch(defs, inst, requests[0], later)
    retrain = _tick(defs, inst, automation.RETRAIN_SENSOR, cursors).run_requests
    assert len(retrain) == 1
    _launch(defs, inst, retrain[0], later)
    with wh.connect() as conn:
        versions = conn.fetchall("select model_name, max(version) from learn.model_registry where account_id = ? "
                                 "group by 1 order by 1", [ACCOUNT])
        reported = conn.fetchall("select followers_reported from analytics.outcomes where decision_id in ({})"
                                 .format(", ".join("?" for _ in posted)), list(posted))
    assert versions == [("engagement_ridge", 2), ("follow_poisson", 2)]
    assert {r for (r,) in reported} == {5}

    # The next plan uses what was learned (the new versions, served from Redis).
    next_day = later.replace(hour=0, minute=0) + timedelta(days=1)
    _cli("plan", "--account", ACCOUNT, "--as-of", _iso(next_day))
    plan = inst.get_latest_materialization_event(dg.AssetKey(["act", "planned_posts"]))
    models = plan.asset_materialization.metadata["models"].value
    assert "engagement_ridge v2 from redis" in models and "follow_poisson v2 from redis" in models

    # What the day cost, and the month's spend in `xbot status`.
    with wh.connect() as conn:
        costs = conn.fetchall("select endpoint, price_kind, count(*), sum(resources), sum(cost_usd) from "
                              "act.api_calls where account_id = ? group by 1, 2 order by 1, 2", [ACCOUNT])
    by_kind = {kind: (calls, resources, cost) for _, kind, calls, resources, cost in costs}
    sent = len(server.state.posts)  # each part of a thread is one post
    assert by_kind["post"] == (sent, sent, pytest.approx(0.015 * sent))
    capsys.readouterr()
    _cli("status", "--account", ACCOUNT, "--json", "--no-jobs", "--as-of", _iso(next_day))
    status = json.loads(capsys.readouterr().out)
    api = status["accounts"][0]["api"]
    assert api["calls"] == sum(c for c, _, _ in by_kind.values())
    assert api["spend_usd"] == pytest.approx(sum(c for _, _, c in by_kind.values()))
    # The credentials never landed anywhere: not in any run's events or metadata, the warehouse, or Redis.
    secrets = (CONSUMER_SECRET, ACCESS_SECRET, ACCESS_TOKEN)
    events = " ".join(str(entry) for run in inst.get_runs() for entry in inst.all_logs(run.run_id))
    events += " ".join(str(run.run_config) for run in inst.get_runs())
    with wh.connect() as conn:
        tables = conn.fetchall("select table_schema, table_name from information_schema.tables where table_schema "
                               "in ('raw', 'act', 'learn', 'analytics', 'staging', 'intermediate', 'sim')")
        stored = " ".join(str(conn.fetchall(f"select * from {s}.{n}")) for s, n in tables)
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    cached = " ".join(f"{k} {client.get(k)}" for k in client.scan_iter(match="predictor:v2:*"))
    client.close()
    assert len(tables) > 20 and "predictor:v2:latest" in cached and len(events) > 10_000
    for secret in secrets:
        assert secret not in events and secret not in stored and secret not in cached

    with capsys.disabled():
        print(f"\none production day of 4 posts: {api['calls']} API calls, ${api['spend_usd']:.4f}: "
              + "; ".join(f"{endpoint} {kind} ×{n} ({r} resources) ${c:.4f}" for endpoint, kind, n, r, c in costs))
