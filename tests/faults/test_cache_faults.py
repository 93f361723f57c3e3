"""Redis down, hanging, then back: a cache, never a single point of failure.

The real CLI (one Dagster run per command) on each warehouse, with XBOT_REDIS_URL pointing at a proxy in front of the
real Redis (tests/redis_proxy.py) that refuses connections (down) or accepts and never answers (hang)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest
import redis
from redis_proxy import DOWN, HANG, UP, RedisProxy
from services import REDIS_SPARE_DB, REDIS_URL

from xbot_assets.evaluation.static_history import simulate_static_history
from xbot_assets.ingest.load import write_follower_snapshots, write_posts
from xbot_assets.ingest.metrics import write_metric_snapshots
from xbot_assets.learned.serving import REDIS_LATEST_KEY, cache_state, load_models, registry_versions
from xbot_assets.operator.cli import main
from xbot_assets.runtime.instance import definitions
from xbot_assets.simulation.scenario import load_scenario
from xbot_assets.warehouse.connection import Warehouse

NOW = datetime(2026, 1, 31, 6)
DB = REDIS_SPARE_DB  # a Redis database of this test's own (the rest of the suite uses REDIS_URL's)


def _at(t: datetime) -> str:
    return t.isoformat() + "Z"


def _health(capsys, t: datetime) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["health", "--json", "--no-jobs", "--as-of", _at(t)])
    return code, json.loads(capsys.readouterr().out)["locks_and_cache"]


@pytest.fixture
def loop(warehouse_url, tmp_path, monkeypatch):
    direct = redis.Redis.from_url(REDIS_URL.rsplit("/", 1)[0] + f"/{DB}")
    direct.flushdb()
    with RedisProxy() as proxy:
        monkeypatch.setenv("XBOT_WAREHOUSE", warehouse_url)
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
        monkeypatch.setenv("XBOT_REDIS_URL", proxy.url(DB))
        definitions.cache_clear()
        wh = Warehouse.from_url(warehouse_url)
        wh.migrate()
        history = simulate_static_history(load_scenario("default"), 30, "main")
        with wh.connect() as conn:
            write_posts(conn, history.posts, now=NOW)
            write_metric_snapshots(conn, history.metric_snapshots, now=NOW)
            write_follower_snapshots(conn, history.follower_snapshots, now=NOW)
        assert main(["accounts", "add", "main", "--connector", "simulator", "--scenario", "default", "--publish",
                     "--as-of", _at(NOW)]) == 0
        try:
            yield wh, proxy, direct
        finally:
            definitions.cache_clear()
            direct.flushdb()
            direct.close()


def test_redis_down_or_hanging_never_stops_learning_planning_or_publishing(loop, capsys, fault):
    wh, proxy, direct = loop
    fault.expect("infrastructure", "Redis down, then hanging, then back",
                 "learning, planning and publishing succeed on the warehouse registry within bounded time; health "
                 "degraded with the reason; the models are republished when Redis returns")

    proxy.set_mode(DOWN)
    assert main(["refresh", "--as-of", _at(NOW)]) == 0
    with wh.connect() as conn:
        registry = registry_versions(conn, "main")
        queued_before = conn.scalar("select count(*) from raw.posts where status = 'queued'")
    assert registry, "the refresh learned no model"
    assert direct.get(REDIS_LATEST_KEY) is None  # nothing reached Redis
    code, down = _health(capsys, NOW)
    assert code >= 1 and down["status"] == "degraded" and "is unavailable" in down["reasons"][0]

    proxy.set_mode(HANG)
    started = time.perf_counter()
    loaded = load_models(wh, "main", proxy.url(DB))
    hang_seconds = time.perf_counter() - started
    assert loaded.source == "warehouse" and "redis unavailable (TimeoutError" in loaded.detail
    assert main(["plan", "--account", "main", "--as-of", _at(NOW + timedelta(days=1))]) == 0
    with wh.connect() as conn:
        queued = conn.scalar("select count(*) from raw.posts where status = 'queued'")
    assert queued > queued_before

    proxy.set_mode(DOWN)
    with wh.connect() as conn:
        times = [r[0] for r in conn.fetchall(
            "select distinct scheduled_at from raw.posts where status = 'queued' and scheduled_at > ? order by 1",
            [NOW + timedelta(days=1)])]
    for at in times:  # the publisher runs every few minutes in production: once after each due post here
        assert main(["publish", "--account", "main", "--as-of", _at(at + timedelta(minutes=5))]) == 0
    due = times[-1] + timedelta(minutes=5)
    with wh.connect() as conn:
        posted_today = conn.scalar("select count(*) from raw.posts where status = 'posted' and posted_at > ?",
                                   [NOW + timedelta(days=1)])
        left = conn.scalar("select count(*) from raw.posts where status in ('queued', 'publishing') "
                           "and scheduled_at <= ?", [due])
    assert posted_today == queued - queued_before and left == 0

    # Redis returns (empty, as after a restart): the next planning run republishes the registry, health clears.
    proxy.set_mode(UP)
    code, behind = _health(capsys, due)
    assert behind["status"] == "degraded" and "is behind the registry" in behind["reasons"][0]
    assert main(["plan", "--account", "main", "--as-of", _at(NOW + timedelta(days=2))]) == 0
    published = json.loads(direct.get(REDIS_LATEST_KEY))
    assert {(a, m): e["version"] for a, ms in published["accounts"].items() for m, e in ms.items()} == registry
    assert cache_state(wh, proxy.url(DB)).behind == ()
    _, healed = _health(capsys, NOW + timedelta(days=2))
    assert healed["status"] == "healthy", healed
    assert load_models(wh, "main", proxy.url(DB)).source == "redis"
    fault.measure(
        f"refresh, plan and publish exit 0 with Redis down/hanging ({queued - queued_before} posts planned, "
        f"{posted_today} published); a hanging Redis answered by the warehouse after {hang_seconds:.1f} s; health "
        f"degraded ('unavailable', then 'behind'); after Redis returned the next plan republished "
        f"{len(registry)} models and health cleared"
    )
