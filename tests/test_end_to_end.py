"""A user's own history through `xbot load` and `xbot refresh`, checked against numbers computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from xbot_assets.learning.generator_weights import DEFAULT_WEIGHTS
from xbot_assets.operator.cli import main
from xbot_assets.runtime.instance import run_job, step_failures
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


# A first run on the least a real account's history gives: posts with only an id, a time and a text (no content type,
# generator, thread parts or scores), counters without profile clicks, two follower counts.
MINIMAL_POSTS = """tweet_id,posted_at,content
3001,2026-01-03T09:00:00Z,Sleep is a skill you can train.
3002,2026-01-04T18:30:00Z,Three things I stopped doing before bed.
3003,2026-01-05T07:15:00Z,Morning light beats any supplement.
"""
MINIMAL_METRICS = """tweet_id,collected_at,impressions,likes,retweets,replies
3001,2026-01-05T12:00:00Z,1200,40,6,3
3002,2026-01-05T12:00:00Z,800,12,1,2
3003,2026-01-05T12:00:00Z,300,9,0,1
"""
MINIMAL_FOLLOWERS = """collected_at,followers
2026-01-03T08:00:00Z,500
2026-01-05T12:00:00Z,512
"""


def _failed(result) -> list[str]:
    checks = [f"check {c.asset_key.to_user_string()} {c.check_name}"
              for c in result.get_asset_check_evaluations() if not c.passed]
    return step_failures(result) + checks


def test_first_refresh_on_minimal_real_data_never_breaks(warehouse_env, dagster_home, tmp_path):
    for kind, text in (("posts", MINIMAL_POSTS), ("metrics", MINIMAL_METRICS), ("followers", MINIMAL_FOLLOWERS)):
        path = tmp_path / f"{kind}.csv"
        path.write_text(text)
        assert main(["load", kind, str(path)]) == 0
    result = run_job("refresh_job", now=datetime(2026, 1, 6, tzinfo=UTC))
    assert result.success and _failed(result) == []
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"learn/bandit_arms", "learn/engagement_model", "learn/follow_model", "learn/generator_weights",
            "learn/generator_posterior", "analytics/outcomes"} <= materialized

    with Warehouse.from_url(warehouse_env).connect() as conn:
        outcomes = conn.fetchall("select decision_id, content_type, generator_name, passes_learning_gate, "
                                 "followers_gained from analytics.outcomes order by decision_id")
        timing = conn.fetchall("select arm_value, plays from learn.bandit_arms where scope = 'timing' and plays > 0 "
                               "order by arm_value")
        content = conn.scalar("select count(*) from learn.bandit_arms where scope = 'content'")
    assert [o[0] for o in outcomes] == ["tweet-3001", "tweet-3002", "tweet-3003"]
    assert all(o[1] is None and o[2] is None and o[3] for o in outcomes)
    assert sum(o[4] for o in outcomes) == pytest.approx(12.0)  # the whole gain: every post was live in the interval
    # The posts teach the timing arms (their hours are known) and nothing else: no content type, too few for a model.
    assert timing == [("18", 1), ("7", 1), ("9", 1)] and content == 0

    # Each learn asset says what it could not learn, and why.
    def metadata(key: str) -> dict:
        event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key)
        return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}

    assert ("No content arm has evidence: none of the 3 posts past the learning gate has a content type."
            in metadata("learn/bandit_arms")["main: content arms"])
    for model in ("learn/engagement_model", "learn/follow_model"):
        assert "not trained: 1 samples < 50; planning uses the seed defaults" in metadata(model)["models"]
    assert "insufficient data: 0 posts < 20" in metadata("learn/generator_weights")["cycles"]


# The account's own history, as imported from X: 60 posts (generator 'imported', source real, status posted), one
# lifetime snapshot each at the collection time, a content type inferred for two in three, no scores; X reports the
# follows of every third post (mixed sources). 21 posts fall in the last 7 days: enough for the weight optimizer
# if 'imported' were a generator.
HISTORY_AS_OF = datetime(2026, 1, 31, tzinfo=UTC)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def imported_history() -> tuple[str, str, str]:
    posts = ["tweet_id,posted_at,content,generator_name,source,status,content_type"]
    metrics = ["tweet_id,collected_at,impressions,likes,retweets,replies,follows"]
    for i in range(60):
        posted = HISTORY_AS_OF - timedelta(days=2, hours=7 * i)  # every hour of the day comes round; all past the
        # models' 48-hour minimum age
        content_type = ("educational_thread", "factual_single", "")[i % 3]
        impressions = 500 + (i * 37) % 900
        er = 0.05 if content_type == "educational_thread" else 0.02
        engagements = round(er * impressions)
        follows = str((i // 3) % 4) if i % 3 == 0 else ""
        posts.append(f"{4000 + i},{_iso(posted)},post number {i},imported,real,posted,{content_type}")
        metrics.append(f"{4000 + i},{_iso(HISTORY_AS_OF)},{impressions},{engagements - 2},1,1,{follows}")
    followers = f"collected_at,followers\n{_iso(HISTORY_AS_OF - timedelta(days=20))},1000\n{_iso(HISTORY_AS_OF)},1300\n"
    return "\n".join(posts) + "\n", "\n".join(metrics) + "\n", followers


def test_warm_start_learns_from_imported_history(warehouse_env, dagster_home, tmp_path, capsys):
    for kind, text in zip(("posts", "metrics", "followers"), imported_history(), strict=True):
        path = tmp_path / f"{kind}.csv"
        path.write_text(text)
        assert main(["load", kind, str(path)]) == 0
    result = run_job("refresh_job", now=HISTORY_AS_OF)
    assert result.success and _failed(result) == []  # the learn checks and the attribution invariants hold

    with Warehouse.from_url(warehouse_env).connect() as conn:
        arms = dict(conn.fetchall("select arm_name, plays from learn.bandit_arms where plays > 0"))
        models = dict(conn.fetchall("select model_name, n_samples from learn.model_registry"))
        weights = {r[0] for r in conn.fetchall("select generator_name from learn.generator_weights")}
        event = conn.fetchone("select event_type, skipped_reason from learn.optimization_events")
        posteriors = {r[0] for r in conn.fetchall("select generator_name from learn.generator_posteriors")}
        performance = conn.scalar("select posts from analytics.generator_performance "
                                  "where generator_name = 'imported' and time_window = 'all_time'")
        followers = conn.fetchall("select followers_reported is not null, sum(followers_gained), "
                                  "sum(followers_attributed), count(*) from analytics.outcomes group by 1 order by 1")
    # Content arms from the inferred types, timing arms from every post, both models from all 60.
    assert arms["content_educational_thread"] == 20 and arms["content_factual_single"] == 20
    assert sum(p for a, p in arms.items() if a.startswith("timing_")) == 60
    assert models == {"engagement_ridge": 60, "follow_poisson": 60}
    # 'imported' is nobody's generator: no weight, no posterior; the optimizer saw no generator's post.
    assert weights == set(DEFAULT_WEIGHTS) and "imported" not in posteriors
    assert event == ("optimization_skipped", "insufficient data: 0 posts < 20")
    assert performance == 60  # the analysts' mart still shows it
    # Mixed sources: X's numbers where it reports them (every third post: 0+1+2+3 repeated = 30), our estimate for
    # the rest; the estimate over all posts is the measured gain.
    (unreported_gained, _, unreported_n), (reported_gained, _, reported_n) = [(r[1], r[2], r[3]) for r in followers]
    assert (unreported_n, reported_n) == (40, 20) and reported_gained == pytest.approx(30)
    assert followers[0][2] + followers[1][2] == pytest.approx(300) and unreported_gained == followers[0][2]

    capsys.readouterr()
    assert main(["status", "--no-jobs", "--as-of", _iso(HISTORY_AS_OF)]) == 0
    assert "learned from 60 posts (60 imported; 20 with X's own follower counts) of 60 posted" in capsys.readouterr().out
