"""One account's trouble never stops another's: raw → dbt → learn → plan for two accounts, on DuckDB and PostgreSQL.

- `main`: 6 simulated days of the default scenario (arms learn; too few samples for the models: seed defaults);
- a second account whose data is the trouble: a new account with three posts in its first hours (none past the
  learning gate yet), or an account whose history a learning step cannot use.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg
import pytest
from services import materialize_for_accounts

from xbot_assets.acting.accounts import Account, register_account
from xbot_assets.defs.act import planned_posts
from xbot_assets.defs.ingest import raw_tables
from xbot_assets.defs.learn import LEARN_ASSETS
from xbot_assets.defs.resources import ClockResource, RedisResource, WarehouseResource
from xbot_assets.defs.transform import xbot_dbt_assets
from xbot_assets.evaluation.static_history import simulate_static_history
from xbot_assets.ingest.load import write_follower_snapshots, write_posts
from xbot_assets.ingest.metrics import write_metric_snapshots
from xbot_assets.simulation.scenario import load_scenario
from xbot_assets.warehouse.connection import Warehouse

NOW = datetime(2026, 1, 7, 4)  # the morning after main's 6 simulated days: the rest of the day is free to plan
ACCOUNTS = ("main", "fresh")


def load_main_history(wh: Warehouse) -> None:
    wh.migrate()
    history = simulate_static_history(load_scenario("default"), 6, "main")
    with wh.connect() as conn:
        write_posts(conn, history.posts, now=NOW)
        write_metric_snapshots(conn, history.metric_snapshots, now=NOW)
        write_follower_snapshots(conn, history.follower_snapshots, now=NOW)
    register_account(wh, Account("main"), NOW)


def new_account_posts(account_id: str) -> tuple[list[dict], list[dict]]:
    """Three posts of the account's first hours, each read once under 2 hours after posting: none past the gate."""
    posts, snapshots = [], []
    for i, hours_ago in enumerate((3.0, 2.5, 1.0)):
        posted_at = NOW - timedelta(hours=hours_ago)
        decision_id = f"{account_id}-{i}"
        posts.append({
            "decision_id": decision_id, "account_id": account_id, "status": "posted", "decision_type": "single",
            "content": f"first post {i}", "content_type": "factual_single", "generator_name": "dataNerd",
            "quality_score": 0.8, "posted_at": posted_at, "tweet_id": f"77{i:04d}", "source": "simulated",
        })
        snapshots.append({
            "decision_id": decision_id, "account_id": account_id, "collected_at": posted_at + timedelta(minutes=50),
            "impressions": 300, "likes": 12, "retweets": 1, "replies": 1, "source": "simulated",
        })
    return posts, snapshots


def refresh_and_plan(url: str) -> dg.ExecuteInProcessResult:
    return materialize_for_accounts(
        [raw_tables, xbot_dbt_assets, *LEARN_ASSETS, planned_posts], url,
        resources={
            "warehouse": WarehouseResource(url=url),
            "clock": ClockResource(simulated_now=NOW.isoformat()),
            "redis": RedisResource(),
        },
        raise_on_error=False,
    )


def per_account(wh: Warehouse, sql: str) -> dict[str, int]:
    with wh.connect() as conn:
        return {account: int(n) for account, n in conn.fetchall(sql)}


def test_a_new_account_with_no_post_past_the_gate_learns_and_plans_beside_a_learned_one(warehouse_url, fault):
    fault.expect("crash", "an account's first posts, none past the learning gate yet, beside a learned account",
                 "every account gets its content and timing arms and a plan; the run succeeds")
    wh = Warehouse.from_url(warehouse_url)
    load_main_history(wh)
    posts, snapshots = new_account_posts("fresh")
    with wh.connect() as conn:
        write_posts(conn, posts, now=NOW)
        write_metric_snapshots(conn, snapshots, now=NOW)
    register_account(wh, Account("fresh"), NOW)

    result = refresh_and_plan(warehouse_url)
    arms = per_account(wh, "select account_id, count(*) from learn.bandit_arms group by account_id")
    timing = per_account(wh, "select account_id, count(*) from learn.bandit_arms where scope = 'timing' "
                             "group by account_id")
    gated = per_account(wh, "select account_id, sum(case when passes_learning_gate then 1 else 0 end) "
                            "from analytics.outcomes group by account_id")
    planned = per_account(wh, f"select account_id, count(*) from raw.posts where created_at = "
                              f"'{NOW:%Y-%m-%d %H:%M:%S}' group by account_id")
    fault.measure(f"run {'succeeded' if result.success else 'FAILED'}; arms {arms}, posts past the gate {gated}, "
                  f"candidates planned {planned}", rows_lost=0)
    assert gated["fresh"] == 0 and gated["main"] > 0
    assert result.success
    assert set(arms) == set(ACCOUNTS) and timing == {"main": 24, "fresh": 24}
    assert set(planned) == set(ACCOUNTS) and min(planned.values()) >= 1


def _broken_weights(wh: Warehouse) -> str:
    """A weight row with a status this version does not know (written by hand, or by a newer xbot): the optimizer
    refuses the account's weights."""
    from xbot_assets.learning.generator_weights import DEFAULT_WEIGHTS

    rows = [("broken", name, weight, "paused" if i == 0 else "active", 0, 0, 0.0, None, "unknown", None, NOW)
            for i, (name, weight) in enumerate(sorted(DEFAULT_WEIGHTS.items()))]
    with wh.connect() as conn:
        conn.insert_rows("learn.generator_weights", ["account_id", "generator_name", "weight", "status", "posts",
                                                     "impressions", "followers_gained", "f_per_1k", "tier", "notes",
                                                     "updated_at"], rows)
    return "select count(*) from learn.generator_weights where account_id = 'broken'"


def _broken_profile(wh: Warehouse) -> str:
    """A stored profile that no longer validates (thread limits min 6 > max 3): planning cannot read it."""
    with wh.connect() as conn:
        conn.insert_rows("act.account_profiles", ["account_id", "profile_json", "updated_at"], [(
            "broken", '{"niche": "sleep for shift workers", "topics": ["naps"], '
                      '"thread": {"min_parts": 6, "max_parts": 3}}', NOW)])
    return "select count(*) from act.account_profiles where account_id = 'broken'"


@pytest.mark.parametrize("trouble, failing_step, cause", [
    (_broken_weights, "learn/generator_weights", "a weight status the optimizer refuses"),
    (_broken_profile, "act/planned_posts", "a stored profile that no longer validates"),
], ids=["weights-refused-by-the-optimizer", "profile-planning-cannot-read"])
def test_an_account_whose_data_fails_a_step_is_reported_and_the_others_are_learned_and_planned(
        warehouse_url, trouble, failing_step, cause, fault):
    fault.expect("crash", f"one account's data fails {failing_step} ({cause}) beside a healthy account",
                 "that account: one alert in act.alerts and the step's metadata, its stored state kept; the healthy "
                 "account is learned and planned; the run succeeds")
    wh = Warehouse.from_url(warehouse_url)
    load_main_history(wh)
    history = simulate_static_history(load_scenario("default"), 6, "broken", seed=11)
    with wh.connect() as conn:
        write_posts(conn, history.posts, now=NOW)
        write_metric_snapshots(conn, history.metric_snapshots, now=NOW)
        write_follower_snapshots(conn, history.follower_snapshots, now=NOW)
    register_account(wh, Account("broken"), NOW)
    stored_sql = trouble(wh)
    with wh.connect() as conn:
        stored_before = int(conn.scalar(stored_sql))

    result = refresh_and_plan(warehouse_url)
    planned = per_account(wh, f"select account_id, count(*) from raw.posts where created_at = "
                              f"'{NOW:%Y-%m-%d %H:%M:%S}' group by account_id")
    arms = per_account(wh, "select account_id, count(*) from learn.bandit_arms group by account_id")
    with wh.connect() as conn:
        alerts = conn.fetchall("select alert_id, error from act.alerts order by alert_id")
        stored_after = int(conn.scalar(stored_sql))
    failed_in = {
        e.asset_key.to_user_string(): e.materialization.metadata["failed accounts"].value
        for e in result.get_asset_materialization_events() if "failed accounts" in e.materialization.metadata
    }
    fault.measure(f"run {'succeeded' if result.success else 'FAILED'}; {len(alerts)} alert(s) "
                  f"({', '.join(a.split(':')[2] for a, _ in alerts)}); main planned {planned.get('main', 0)}, "
                  f"arms {arms}", rows_lost=max(0, stored_before - stored_after))
    assert result.success
    assert planned.get("main", 0) >= 1 and arms.get("main", 0) > 0
    assert [a.split(":")[2] for a, _ in alerts] == [failing_step]
    assert alerts[0][0].endswith(":broken") and "broken" in alerts[0][1]
    assert failed_in[failing_step] == 1
    assert {step for step, n in failed_in.items() if n} == {failing_step}
    assert stored_after == stored_before

    # `xbot health` names the failed account's alert; the healthy account has none.
    from xbot_assets.operator.health import choose_clock
    from xbot_assets.operator.status import check_health

    clock = choose_clock(NOW, None, NOW)
    verdicts = {v.account_id: v for v in check_health(wh, clock)}
    assert [f.rule for f in verdicts["broken"].findings if f.rule == "alerts"] == ["alerts"]
    assert failing_step in next(f.reason for f in verdicts["broken"].findings if f.rule == "alerts")
    assert not [f for f in verdicts["main"].findings if f.rule == "alerts"]
