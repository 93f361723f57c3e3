"""Warm start: an account's own X history, imported from X's exports, is what `xbot refresh` learns from — on
DuckDB and PostgreSQL. The posts are real-shaped: texts of four kinds, posted at the account's habitual hours, with
X's lifetime counters and reported follows; the follower history comes from the per-day export."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import numpy as np
from test_x_exports import CONTENT_HEADER, content_row, snowflake, write_csv

from xbot_assets.operator.cli import main

KINDS = (("Myth: {n} hours of sleep is not enough for everyone. The evidence says otherwise.", 0.045),
         ("Tip: walk {n} minutes after lunch and your afternoon dip shrinks.", 0.030),
         ("🧵 {n} things a sleep lab taught me about caffeine timing.", 0.040),
         ("A study of {n} adults found morning light shifts the body clock by an hour.", 0.025))


def history(days: int, seed: int = 3) -> tuple[list[list], list[list], int]:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 9, 1)
    posts, overview, followers = [], [], 4000
    for day in range(days):
        gained = 0
        for slot, hour in enumerate((8, 13, 19)):
            at = start + timedelta(days=day, hours=hour, minutes=int(rng.integers(0, 50)))
            text, rate = KINDS[int(rng.integers(len(KINDS)))]
            impressions = int(rng.integers(1500, 4000))
            rate *= 1.3 if hour == 19 else 1.0
            likes = int(rng.binomial(impressions, rate * 0.7))
            reposts, replies = int(rng.binomial(impressions, rate * 0.2)), int(rng.binomial(impressions, rate * 0.1))
            follows = int(rng.poisson(impressions * rate / 40))
            gained += follows
            posts.append(content_row(snowflake(at, slot), at, text.format(n=int(rng.integers(5, 400))),
                                     impressions=f"{impressions:,}", likes=likes, reposts=reposts, replies=replies,
                                     follows=follows))
        lost = int(rng.integers(0, 4))
        followers += gained - lost
        day_name = (start + timedelta(days=day)).strftime("%a, %b %-d, %Y")
        overview.append([day_name, 9000, 400, gained + int(rng.integers(0, 6)), lost])
    return posts, overview, followers


def test_an_imported_history_warm_starts_the_arms_timing_and_models(warehouse_url, tmp_path, monkeypatch, capsys):
    from xbot_assets.runtime.instance import definitions
    from xbot_assets.warehouse.connection import Warehouse

    monkeypatch.setenv("XBOT_WAREHOUSE", warehouse_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    definitions.cache_clear()
    posts, overview, followers_now = history(30)
    content = write_csv(tmp_path / "account_analytics_content_2026-09-01_2026-09-30.csv", CONTENT_HEADER, posts)
    daily = write_csv(tmp_path / "account_overview_analytics.csv",
                      ["Date", "Impressions", "Engagements", "New follows", "Unfollows"], overview)
    assert main(["accounts", "add", "main", "--connector", "x-api", "--handle", "me"]) == 0
    assert main(["load", "x-analytics", content]) == 0
    assert main(["load", "x-analytics", daily, "--followers-now", str(followers_now)]) == 0
    assert main(["refresh", "--as-of", "2026-10-01T06:00:00Z"]) == 0

    wh = Warehouse.from_url(warehouse_url)
    with wh.connect() as conn:
        arms = dict(conn.fetchall("select arm_value, plays from learn.bandit_arms where account_id = 'main' and "
                                  "scope = 'content'"))
        timing = dict(conn.fetchall("select arm_value, plays from learn.bandit_arms where account_id = 'main' and "
                                    "scope = 'timing' and plays > 0"))
        models = dict(conn.fetchall("select model_name, n_samples from learn.model_registry where account_id = 'main'"))
        weighted = [g for (g,) in conn.fetchall("select generator_name from learn.generator_weights "
                                                "where account_id = 'main'")]
        reported = conn.scalar("select sum(followers_reported) from analytics.outcomes where account_id = 'main'")
    assert set(arms) == {"myth_busting", "wellness_tip", "educational_thread", "factual_single"}
    assert sum(arms.values()) >= 80  # the 90 imported posts, less any too young to judge
    assert set(timing) <= {"8", "13", "19"} and len(timing) == 3
    assert set(models) == {"engagement_ridge", "follow_poisson"} and min(models.values()) >= 80
    assert "imported" not in weighted
    assert reported == sum(int(p[CONTENT_HEADER.index("New follows")]) for p in posts)
    capsys.readouterr()
    assert main(["status", "--account", "main", "--no-jobs", "--as-of", "2026-10-01T06:00:00Z"]) in (0, 1, 2)
    learned = re.search(r"learned from (\d+) posts \((\d+) imported; (\d+) with X's own follower counts\)",
                        capsys.readouterr().out)
    assert learned and int(learned[1]) == int(learned[2]) == sum(arms.values()) and int(learned[3]) > 0
    definitions.cache_clear()
