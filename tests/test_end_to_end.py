"""A user's own history through `xbot load` and `xbot refresh`, checked against numbers computed by hand."""

from __future__ import annotations

import pytest

from xbot_assets.operator.cli import main
from xbot_assets.warehouse.connection import Warehouse

POSTS = """decision_id,status,decision_type,content,content_type,generator_name,quality_score,posted_at,tweet_id
a1,posted,thread,First,educational_thread,dataNerd,0.8,2026-01-05T10:00:00Z,2001
a2,posted,single,Second,factual_single,coach,0.7,2026-01-05T10:30:00Z,2002
a3,queued,single,Third,wellness_tip,coach,0.6,,
a4,posted,single,Fourth,myth_busting,humanVoice,0.9,2026-01-05T12:30:00Z,2004
"""
METRICS = """decision_id,tweet_id,collected_at,impressions,likes,retweets,replies
a1,,2026-01-05T11:00:00Z,600,30,5,3
a1,,2026-01-05T13:00:00Z,1000,40,6,4
,2002,2026-01-05T11:00:00Z,200,3,0,1
a2,,2026-01-05T13:00:00Z,"1,000",4,1,1
a4,,2026-01-05T13:00:00Z,50,1,0,0
a2,,2026-01-05T14:00:00Z,900,4,1,1
zz,,2026-01-05T14:00:00Z,900,4,1,1
"""
FOLLOWERS = """collected_at,followers
2026-01-05T10:00:00Z,1000
2026-01-05T11:00:00Z,1004
2026-01-05T13:00:00Z,1005
2026-01-05T14:00:00Z,1003
"""


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_load_and_refresh_give_hand_computed_marts(warehouse_env, dagster_home, tmp_path, capsys):
    for kind, text in (("posts", POSTS), ("metrics", METRICS), ("followers", FOLLOWERS)):
        path = tmp_path / f"{kind}.csv"
        path.write_text(text)
        assert main(["load", kind, str(path)]) == 0
    out = capsys.readouterr().out
    assert "counter went backwards" in out and "unknown post" in out
    assert main(["refresh", "--as-of", "2026-01-06T00:00:00Z"]) == 0

    with Warehouse.from_url(warehouse_env).connect() as conn:
        outcomes = {
            r[0]: r[1:]
            for r in conn.fetchall(
                "select decision_id, impressions, engagement_rate, followers_gained, f_per_1k, passes_learning_gate, "
                "gate_reason from analytics.outcomes where account_id = 'main'"
            )
        }
        generators = {
            r[0]: r[1:]
            for r in conn.fetchall(
                "select generator_name, posts, f_per_1k, tier from analytics.generator_performance "
                "where account_id = 'main' and time_window = '7d' and posts > 0"
            )
        }
    assert set(outcomes) == {"a1", "a2", "a4"}  # a3 was never posted
    # Interval (10:00, 11:00]: +4 followers over new impressions a1 600, a2 200 → a1 3, a2 1.
    # Interval (11:00, 13:00]: +1 over a1 400, a2 800, a4 50 (1250) → a1 0.32, a2 0.64, a4 0.04.
    # Interval (13:00, 14:00]: −2, nothing attributed.
    a1, a2, a4 = outcomes["a1"], outcomes["a2"], outcomes["a4"]
    assert a1[0] == 1000 and a1[1] == pytest.approx(50 / 1000)
    assert a1[2] == pytest.approx(3.32) and a1[3] == pytest.approx(3.32)
    assert a2[0] == 1000 and a2[1] == pytest.approx(6 / 1000)
    assert a2[2] == pytest.approx(1.64) and a2[3] == pytest.approx(1.64)
    assert a4[2] == pytest.approx(0.04)
    assert sum(o[2] for o in outcomes.values()) == pytest.approx(5.0)  # the measured positive gains, not more
    assert a1[4] and a2[4] and not a4[4]
    assert "too young" in a4[5]
    assert generators["dataNerd"] == (1, pytest.approx(3.32), "excellent")
    assert generators["coach"] == (1, pytest.approx(1.64), "good")
    assert "humanVoice" not in generators  # its only post is gated out
