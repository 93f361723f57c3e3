"""The operator's dashboard for a simulated account and an imported-then-published (mixed) real-shaped account:
every number checked against the warehouse (both warehouses), then the pages opened in Debian's chromium (no console
error, no request leaving the file, every chart drawn), with screenshots in test-artifacts/dashboard/."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from test_warm_start import history
from test_x_exports import CONTENT_HEADER, write_csv

from xbot_assets.evaluation.static_history import simulate_static_history
from xbot_assets.ingest.load import write_follower_snapshots, write_posts
from xbot_assets.ingest.metrics import write_metric_snapshots
from xbot_assets.learned.strategy import load_strategy, strategy_summary
from xbot_assets.operator.cli import main
from xbot_assets.pages.data import read_dashboard
from xbot_assets.simulation.scenario import load_scenario
from xbot_assets.warehouse.connection import Warehouse

AS_OF = datetime(2026, 10, 1, 6)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "dashboard"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SECTIONS = ("summary", "audience", "posts", "best-times", "performance", "strategy", "queue", "learning")


def _simulated(account: str) -> tuple[list[dict], list[dict], list[dict]]:
    """A month of the simulator's posts, moved to the month before AS_OF (what a demo account holds)."""
    scenario = load_scenario("default")
    sim = simulate_static_history(scenario, 30, account)
    shift = AS_OF - timedelta(days=30) - scenario.start.replace(tzinfo=None)

    def moved(rows):
        return [{k: (v + shift if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows]

    return moved(sim.posts), moved(sim.metric_snapshots), moved(sim.follower_snapshots)


def _own_posts(account: str) -> tuple[list[dict], list[dict]]:
    """A few posts xbot published itself after the import, with X's counters (the mixed part)."""
    posts, snapshots = [], []
    for i in range(6):
        at = AS_OF - timedelta(days=5 - i % 5, hours=3 + i)
        tweet_id = str(1973000000000000000 + i)
        posts.append({"decision_id": f"own-{i}", "account_id": account, "status": "posted",
                      "decision_type": "single", "content": f"Own post {i}: what a sleep lab measures at night.",
                      "content_type": "educational_thread", "generator_name": "dataNerd", "posted_at": at,
                      "tweet_id": tweet_id, "source": "real", "content_propensity": 0.4,
                      "generator_propensity": 0.2, "timing_propensity": 1.0})
        snapshots.append({"decision_id": f"own-{i}", "account_id": account, "collected_at": at + timedelta(hours=30),
                          "impressions": 2000 + 100 * i, "likes": 80 + i, "retweets": 9, "replies": 4,
                          "follows": 3 + i, "source": "real"})
    return posts, snapshots


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def pages(request, tmp_path_factory):
    """Both accounts loaded, refreshed and written as pages, through the CLI a user types."""
    from contextlib import ExitStack, nullcontext

    from services import throwaway_database

    from xbot_assets.runtime.instance import definitions

    tmp = tmp_path_factory.mktemp(f"dashboard-{request.param}")
    cleanup = ExitStack()
    url = cleanup.enter_context(throwaway_database() if request.param == "postgres" else nullcontext(
        str(tmp / "warehouse.duckdb")))
    saved = {k: os.environ.get(k) for k in ("XBOT_WAREHOUSE", "DAGSTER_HOME", "XBOT_DASHBOARD_DIR")}
    os.environ.update({"XBOT_WAREHOUSE": url, "DAGSTER_HOME": str(tmp / "dagster_home"),
                       "XBOT_DASHBOARD_DIR": str(tmp / "pages")})
    definitions.cache_clear()
    try:
        wh = Warehouse.from_url(url)
        wh.migrate()
        exported, overview, followers_now = history(30)
        content = write_csv(tmp / "account_analytics_content_2026-09-01_2026-09-30.csv", CONTENT_HEADER, exported)
        daily = write_csv(tmp / "account_overview_analytics.csv",
                          ["Date", "Impressions", "Engagements", "New follows", "Unfollows"], overview)
        assert main(["accounts", "add", "main", "--connector", "x-api", "--handle", "me"]) == 0
        assert main(["accounts", "add", "sim", "--connector", "simulator", "--scenario", "default"]) == 0
        assert main(["load", "x-analytics", content]) == 0
        assert main(["load", "x-analytics", daily, "--followers-now", str(followers_now)]) == 0
        own, own_snapshots = _own_posts("main")
        sim_posts, sim_snapshots, sim_followers = _simulated("sim")
        with wh.connect() as conn:
            write_posts(conn, own + sim_posts, now=AS_OF)
            write_metric_snapshots(conn, own_snapshots + sim_snapshots, now=AS_OF)
            write_follower_snapshots(conn, sim_followers, now=AS_OF)
        assert main(["refresh", "--as-of", AS_OF.isoformat() + "Z"]) == 0  # learns, plans, writes the pages
        yield wh, tmp / "pages"
    finally:
        definitions.cache_clear()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        cleanup.close()


def _count(wh: Warehouse, sql: str, params: list) -> float:
    with wh.connect() as conn:
        return float(conn.scalar(sql, params) or 0)


@pytest.mark.parametrize("account", ["main", "sim"])
def test_every_number_comes_from_the_warehouse(pages, account):
    wh, _ = pages
    data = read_dashboard(wh, account, AS_OF)
    since = AS_OF - timedelta(days=30)
    kpis = {k["name"]: k["value"] for k in data.kpis}
    followers = _count(wh, "select followers from raw.follower_snapshots where account_id = ? and collected_at <= ? "
                           "order by collected_at desc limit 1", [account, AS_OF])
    assert kpis["followers"] == followers
    assert kpis["posts"] == _count(wh, "select count(*) from analytics.outcomes where account_id = ? and "
                                       "posted_at > ? and posted_at <= ?", [account, since, AS_OF])
    assert kpis["impressions"] == _count(wh, "select sum(impressions) from analytics.outcomes where account_id = ? "
                                             "and posted_at > ? and posted_at <= ?", [account, since, AS_OF])
    assert data.heatmap["posts"].sum() == kpis["posts"]
    assert len(data.queue) == _count(wh, "select count(*) from raw.posts where account_id = ? and status = 'queued'",
                                     [account])
    top = data.top_posts.iloc[0]
    assert top["engagement_rate"] == data.posts.loc[data.posts["passes_learning_gate"].astype(bool),
                                                    "engagement_rate"].max()
    generators = data.by_generator.set_index("name")
    if account == "main":
        # Imported posts carry X's own follows: the mixed account's follows are reported, and linked to X.
        assert set(data.posts["follows_source"]) == {"reported by X"}
        assert data.posts["link"].notna().all()
        assert generators.loc["dataNerd", "posts"] == 6
        assert generators.loc["imported", "posts"] == kpis["posts"] - 6
    else:
        assert set(data.posts["follows_source"]) == {"attributed"} and data.posts["link"].isna().all()
        assert generators["weight"].notna().all()
    low, high = generators["ci_low"].dropna(), generators["ci_high"].dropna()
    assert (low <= generators.loc[low.index, "f_per_1k"]).all() and (generators.loc[high.index, "f_per_1k"] <= high).all()
    # The strategy is learn.strategy's document, as the refresh built it from the account's gated outcomes.
    with wh.connect() as conn:
        assert data.strategy == load_strategy(conn, account)
    assert data.strategy["posts"] == _count(wh, "select count(*) from analytics.outcomes where account_id = ? and "
                                                "passes_learning_gate and engagement_rate is not null", [account])
    best_hour = data.strategy["best_hours"][0]
    assert best_hour["posts"] == _count(wh, "select plays from learn.bandit_arms where account_id = ? and "
                                            "scope = 'timing' and arm_value = ?", [account, str(best_hour["hour"])])


def test_the_pages_open_in_a_browser_with_nothing_fetched(pages, request):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("XBOT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    wh, directory = pages
    warehouse = "duckdb" if wh.kind == "duckdb" else "postgres"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for account in ("main", "sim"):
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                errors, outside = [], []
                page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                page.on("request", lambda r, outside=outside: None if r.url.startswith(("file:", "data:", "blob:"))
                        else outside.append(r.url))
                path = directory / f"{account}.html"
                page.goto(path.as_uri())
                charts = page.locator("div.chart")
                page.wait_for_function(
                    "() => [...document.querySelectorAll('div.chart')].every(d => d.querySelector('svg'))",
                    timeout=30_000)
                page.screenshot(path=str(ARTIFACTS / f"{account}-{warehouse}.png"), full_page=True)
                for section in SECTIONS:
                    assert page.locator(f"section#{section}").count() == 1, section
                assert charts.count() >= 4
                data = read_dashboard(wh, account, AS_OF)
                kpis = {k["name"]: k["value"] for k in data.kpis}
                shown = page.locator('[data-kpi="followers"] .kpi-value').inner_text()
                assert int(re.sub(r"\D", "", shown)) == kpis["followers"]
                assert int(page.locator("[data-queued]").get_attribute("data-queued")) == len(data.queue)
                first_top = page.locator("table.posts.top tbody tr").first.locator("td").nth(3).inner_text()
                assert int(re.sub(r"\D", "", first_top)) == int(data.top_posts.iloc[0]["impressions"])
                strategy = page.locator("section#strategy")
                assert int(strategy.locator("[data-posts]").get_attribute("data-posts")) == data.strategy["posts"]
                for name, words in strategy_summary(data.strategy):
                    assert strategy.locator(f'dd[data-item="{name}"]').inner_text() == words
                assert strategy.locator("table.arms tbody tr").count() == sum(
                    len(data.strategy[k]) for k in ("top_topics", "effective_hooks", "best_hours"))
                assert errors == [] and outside == [], (errors, outside)
                page.close()
        finally:
            browser.close()


def test_the_pages_are_served_at_a_stable_url(pages):
    """What `xbot serve` runs beside the Dagster UI: each account's page at /<account>.html."""
    import threading
    import urllib.request

    from xbot_assets.pages.dashboard import page_server

    _, directory = pages
    server = page_server("127.0.0.1", 0, directory)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/main.html", timeout=10) as answer:
            assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/html")
            assert answer.read() == (directory / "main.html").read_bytes()
    finally:
        server.shutdown()
        server.server_close()


def test_a_missing_time_or_number_shows_as_a_dash():
    import numpy as np
    import pandas as pd

    from xbot_assets.pages.dashboard import _number, _when
    from xbot_assets.pages.html import missing

    assert all(missing(v) for v in (None, float("nan"), pd.NA, pd.NaT, np.datetime64("NaT"), " "))
    assert not any(missing(v) for v in (0, 0.0, "x", pd.Timestamp("2026-01-01"), False))
    assert _when(pd.NaT) == "—" and _when(pd.Timestamp("2026-01-01 08:30")) == "2026-01-01 08:30"
    assert _number(np.nan) == "—"
