"""The learn group end to end (raw → dbt → learn) on DuckDB and on PostgreSQL, with Redis.

One warehouse per backend is built once for this module (ingest, one `dbt build`, the learn group and its checks)
and every test reads it; the only writes after the build are the idempotence test's rematerialization, which must
change nothing. Three accounts are learned separately:

- main: 30 simulated days of the default scenario (enough samples for both models; its weights are optimized);
- side: 6 simulated days (below the 50-sample minimum: no model, planning gets the seed defaults; no post in the
  optimizer's window: the seed weights are kept and the skip is logged);
- drift: 60 hand-made posts whose engagement rises with quality in the older 80% and falls with it in the newer
  20% (the time-ordered holdout), so its engagement model loses to the mean baseline; nobody follows it, so its
  follow model cannot be trained (one class).
"""

from __future__ import annotations

import json
import uuid
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime, timedelta

import dagster as dg
import pandas as pd
import pytest
import redis
from services import REDIS_URL, materialize_for_accounts, throwaway_database

from xbot_assets.defs.ingest import raw_tables
from xbot_assets.defs.learn import LEARN_ASSETS
from xbot_assets.defs.learn_checks import LEARN_CHECKS
from xbot_assets.defs.resources import ClockResource, RedisResource, WarehouseResource
from xbot_assets.defs.transform import xbot_dbt_assets
from xbot_assets.evaluation.static_history import simulate_static_history
from xbot_assets.ingest.load import write_follower_snapshots, write_posts
from xbot_assets.ingest.metrics import write_metric_snapshots
from xbot_assets.learned.arms import ARM_COLUMNS, compute_bandit_arms, write_bandit_arms
from xbot_assets.learned.checks import arm_count_mismatches
from xbot_assets.learned.models import latest_models, newest_registry_row
from xbot_assets.learned.serving import load_models
from xbot_assets.learned.store import LearningSettings, frame_rows
from xbot_assets.learning.features import feature_frame
from xbot_assets.learning.predictors import ENGAGEMENT_MODEL, FOLLOW_MODEL, predict_engagement
from xbot_assets.runtime.instance import add_account_partitions
from xbot_assets.simulation.scenario import load_scenario
from xbot_assets.warehouse.connection import Warehouse

NOW = datetime(2026, 1, 31)  # the end of the default scenario's 30 simulated days
LEARN_TABLES = {
    "bandit_arms": ("account_id", "arm_name"),
    "model_registry": ("account_id", "model_name", "version"),
    "generator_weights": ("account_id", "generator_name"),
    "generator_performance_history": ("event_id", "generator_name"),
    "optimization_events": ("event_id",),
}


def drift_posts() -> tuple[list[dict], list[dict]]:
    posts, snapshots = [], []
    start = datetime(2026, 1, 10)
    for i in range(60):
        posted_at = start + timedelta(days=i // 3, hours=9 + i % 3)
        quality = 0.3 + 0.6 * ((i * 7) % 11) / 10
        er = 0.01 + 0.06 * quality if i < 48 else 0.07 - 0.06 * quality
        decision_id = f"drift-{i:03d}"
        posts.append({
            "decision_id": decision_id, "account_id": "drift", "status": "posted", "decision_type": "single",
            "content": f"post {i}", "content_type": "factual_single", "generator_name": "coach",
            "quality_score": quality, "posted_at": posted_at, "tweet_id": f"9{i:05d}", "source": "simulated",
        })
        snapshots.append({
            "decision_id": decision_id, "account_id": "drift", "collected_at": posted_at + timedelta(hours=25),
            "impressions": 1000, "likes": round(er * 1000), "retweets": 0, "replies": 0, "source": "simulated",
        })
    return posts, snapshots


def load_history(wh: Warehouse) -> None:
    wh.migrate()
    scenario = load_scenario("default")
    with wh.connect() as conn:
        for account_id, days in (("main", 30), ("side", 6)):
            history = simulate_static_history(scenario, days, account_id)
            write_posts(conn, history.posts, now=NOW)
            write_metric_snapshots(conn, history.metric_snapshots, now=NOW)
            write_follower_snapshots(conn, history.follower_snapshots, now=NOW)
        posts, snapshots = drift_posts()
        write_posts(conn, posts, now=NOW)
        write_metric_snapshots(conn, snapshots, now=NOW)


def resources(url: str, prefix: str) -> dict:
    return {
        "warehouse": WarehouseResource(url=url),
        "clock": ClockResource(simulated_now=NOW.isoformat()),
        "redis": RedisResource(url=REDIS_URL, key_prefix=prefix),
    }


class Built:
    def __init__(self, url: str, prefix: str, result: dg.ExecuteInProcessResult):
        self.url = url
        self.prefix = prefix
        self.result = result
        self.wh = Warehouse.from_url(url)

    def metadata(self, key: list[str]) -> dict:
        """The metadata of the asset's materialization: one per account partition of the run, all the same (the
        step learned the accounts together)."""
        events = [e for e in self.result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)]
        assert len({e.partition for e in events}) == len(events) >= 1
        assert all(e.materialization.metadata == events[0].materialization.metadata for e in events)
        return events[0].materialization.metadata

    def checks(self) -> dict[str, dg.AssetCheckEvaluation]:
        return {
            e.check_name: e for e in self.result.get_asset_check_evaluations() if e.asset_key.path[0] == "learn"
        }


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def built(request, tmp_path_factory):
    """Ingest → transform → learn once per backend, with Redis under a key prefix of this module's own."""
    prefix = f"xbot-test-{uuid.uuid4().hex[:8]}:"
    database = throwaway_database() if request.param == "postgres" else nullcontext(
        str(tmp_path_factory.mktemp("learn") / "warehouse.duckdb"))
    client = redis.Redis.from_url(REDIS_URL)
    mp = pytest.MonkeyPatch()
    for name in ("XBOT_ARM_HALF_LIFE_DAYS", "XBOT_GENERATOR_HALF_LIFE_DAYS"):
        mp.setenv(name, "0")  # these tests count the evidence; forgetting has its own (tests/learning/test_forgetting)
    # The hand-made posts' counters are read 25 hours after posting, the last ones the day before NOW.
    mp.setenv("XBOT_MODEL_MIN_AGE_HOURS", "24")
    try:
        with database as url:
            load_history(Warehouse.from_url(url))
            result = materialize_for_accounts(
                [raw_tables, xbot_dbt_assets, *LEARN_ASSETS, *LEARN_CHECKS], url,
                resources=resources(url, prefix),
                raise_on_error=False,
            )
            yield Built(url, prefix, result)
    finally:
        mp.undo()
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()


def snapshot_tables(wh: Warehouse) -> dict[str, list]:
    with wh.connect() as conn:
        return {
            table: sorted(
                frame_rows(frame := conn.fetch_df(f"select * from learn.{table}"), list(frame.columns)),
                key=repr,
            )
            for table in LEARN_TABLES
        }


def redis_snapshot(prefix: str) -> dict[str, str]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        return {key: client.get(key) for key in client.scan_iter(match=f"{prefix}*")}
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------------------------------


def test_learn_group_materializes_end_to_end(built):
    assert built.result.success
    materialized = {e.asset_key for e in built.result.get_asset_materialization_events()}
    for asset in LEARN_ASSETS:
        assert asset.key in materialized

    with built.wh.connect() as conn:
        counts = {
            table: dict(conn.fetchall(f"select account_id, count(*) from learn.{table} group by account_id"))
            for table in LEARN_TABLES
        }
        registry = conn.fetch_df(
            "select account_id, model_name, version, n_samples, beats_baseline, model_json from learn.model_registry"
        )
        events = conn.fetch_df("select account_id, event_type, success, skipped_reason from learn.optimization_events")
    # Every account is learned on its own: 4 content arms each (every type it posted), 24 timing arms and a hook arm
    # per hook its posts carry (classified from their text on loading: 6 of the templates' hooks; drift's one).
    assert counts["bandit_arms"] == {"main": 34, "side": 34, "drift": 26}
    assert counts["generator_weights"] == {"main": 12, "side": 12, "drift": 12}
    assert set(zip(registry["account_id"], registry["model_name"], strict=True)) == {
        ("main", ENGAGEMENT_MODEL), ("main", FOLLOW_MODEL), ("drift", ENGAGEMENT_MODEL),
    }
    assert set(registry["version"]) == {1}
    assert (registry["n_samples"] >= 50).all()
    for name, document in zip(registry["model_name"], registry["model_json"], strict=True):
        model = json.loads(document)
        assert model["trained"] and model["coefficients"] and model["scaler_mean"] and model["feature_names"]
        # the engagement model weighs its posts by recency as well as impressions (14 days, the default)
        assert model["hyperparameters"].get("half_life_days") == (14.0 if name == ENGAGEMENT_MODEL else None)
    by_account = events.set_index("account_id")
    assert by_account.loc["main", "event_type"] == "weight_update"
    assert by_account.loc["side", "event_type"] == "optimization_skipped"
    assert "insufficient data" in by_account.loc["side", "skipped_reason"]
    assert events["success"].all()

    # The metadata a person reads in the UI.
    arms = built.metadata(["learn", "bandit_arms"])
    assert "| content_educational_thread |" in arms["main: content arms"].value
    assert "P(UCB picks)" in arms["main: timing arms"].value
    engagement = built.metadata(["learn", "engagement_model"])
    table = engagement["models"].value
    assert "baseline MAE" in table and "| side | not_trained | seed default |" in table
    # 6 days × 4 posts; of the last day's 4, younger than the models' 24-hour minimum age, the engagement model
    # reads the 3 at least 6 hours old (their rates settled by the development factors), the follow model none
    assert "not trained: 23 samples < 50" in table
    assert "not trained: 20 samples < 50" in built.metadata(["learn", "follow_model"])["models"].value
    assert engagement["passed the learning gate"].value <= engagement["posted outcomes"].value
    assert "| main |" in engagement["learning gate"].value
    assert engagement["new versions"].value == 2 and engagement["losing to baseline"].value == 1
    assert engagement["redis"].value.startswith(f"published {built.prefix}predictor:v2:latest")
    weights = built.metadata(["learn", "generator_weights"])
    assert "| dataNerd | active |" in weights["main: weights"].value
    assert "skipped_insufficient_data" in weights["cycles"].value


def test_checks_pass_and_a_model_losing_to_its_baseline_is_a_warning(built):
    checks = built.checks()
    assert set(checks) == {
        "arm_counts_match_outcomes", "engagement_model_beats_baseline", "follow_model_beats_baseline",
        "weights_sum_to_one", "weights_above_floor", "locked_weights_unchanged",
    }
    for name in ("arm_counts_match_outcomes", "weights_sum_to_one", "weights_above_floor", "locked_weights_unchanged"):
        assert checks[name].passed, (name, checks[name].description)

    engagement = checks["engagement_model_beats_baseline"]
    assert not engagement.passed
    assert engagement.severity == dg.AssetCheckSeverity.WARN
    assert "drift" in engagement.description and "main" not in engagement.description
    assert "baseline_mae" in engagement.metadata["models"].value

    with built.wh.connect() as conn:
        rows = {(r["account_id"], r["model_name"]): r for r in latest_models(conn)}
    drift = rows[("drift", ENGAGEMENT_MODEL)]
    assert drift["beats_baseline"] is False and drift["primary_value"] > drift["baseline_value"]
    assert rows[("main", ENGAGEMENT_MODEL)]["beats_baseline"] is True
    # The follow check agrees with the registry whichever way main's follow model came out, and only ever warns.
    follow = checks["follow_model_beats_baseline"]
    assert follow.passed == bool(rows[("main", FOLLOW_MODEL)]["beats_baseline"])
    assert follow.severity == dg.AssetCheckSeverity.WARN


def test_arm_counts_equal_the_counts_in_outcomes(built):
    with built.wh.connect() as conn:
        expected = conn.fetch_df(
            "select account_id, 'content_' || content_type as arm_name, count(*) as plays, "
            "sum(case when engagement_rate > 0.03 then 1 else 0 end) as successes "
            "from analytics.outcomes where passes_learning_gate and engagement_rate is not null "
            "group by account_id, content_type"
        )
        arms = conn.fetch_df(
            "select account_id, arm_name, plays, successes, failures, alpha, beta from learn.bandit_arms"
        )
        timing_plays = conn.fetch_df(
            "select account_id, sum(plays) as plays from learn.bandit_arms where scope = 'timing' group by account_id"
        )
        gated = dict(conn.fetchall(
            "select account_id, count(*) from analytics.outcomes where passes_learning_gate "
            "and engagement_rate is not null group by account_id"
        ))
    merged = expected.merge(arms, on=["account_id", "arm_name"], suffixes=("", "_stored"))
    assert len(merged) == len(expected) > 0
    assert (merged["plays"] == merged["plays_stored"]).all()
    assert (merged["successes"] == merged["successes_stored"]).all()
    assert (merged["plays"] - merged["successes"] == merged["failures"]).all()
    assert (arms["alpha"] == 1 + arms["successes"]).all() and (arms["beta"] == 1 + arms["failures"]).all()
    assert dict(zip(timing_plays["account_id"], timing_plays["plays"].astype(int), strict=True)) == gated
    with built.wh.connect() as conn:
        assert arm_count_mismatches(conn) == []


def test_rematerializing_the_learn_group_on_unchanged_data_changes_nothing(built):
    tables, published = snapshot_tables(built.wh), redis_snapshot(built.prefix)
    assert all(tables[t] for t in LEARN_TABLES)
    again = materialize_for_accounts(
        [*LEARN_ASSETS, *LEARN_CHECKS], built.url,
        resources=resources(built.url, built.prefix),
    )
    assert again.success
    assert snapshot_tables(built.wh) == tables
    assert redis_snapshot(built.prefix) == published
    cycles = again.get_asset_materialization_events()
    weights = next(e for e in cycles if e.asset_key == dg.AssetKey(["learn", "generator_weights"]))
    assert "unchanged_inputs" in weights.materialization.metadata["cycles"].value
    engagement = next(e for e in cycles if e.asset_key == dg.AssetKey(["learn", "engagement_model"]))
    assert engagement.materialization.metadata["new versions"].value == 0

    # Without Redis (XBOT_REDIS_URL unset): the same tables, nothing published, and the asset says so.
    no_redis = materialize_for_accounts(
        LEARN_ASSETS, built.url,
        resources={**resources(built.url, built.prefix), "redis": RedisResource()},
    )
    assert no_redis.success and snapshot_tables(built.wh) == tables
    follow = next(
        e for e in no_redis.get_asset_materialization_events() if e.asset_key == dg.AssetKey(["learn", "follow_model"])
    )
    assert follow.materialization.metadata["redis"].value.startswith("not published: XBOT_REDIS_URL is not set")


def test_a_run_over_one_account_relearns_it_and_leaves_every_other_account_alone(built):
    """A per-account run (a backfill launches one per account) writes that account's learned rows only; another
    account's arms, posteriors, formulas, weights and models stay exactly as they were."""
    tables = ("bandit_arms", "generator_posteriors", "formulas", "generator_weights", "model_registry")

    def learned_rows() -> dict[str, list]:
        with built.wh.connect() as conn:
            return {t: sorted(frame_rows(f := conn.fetch_df(f"select * from learn.{t} order by account_id"),
                                         list(f.columns)), key=repr) for t in tables}

    before = learned_rows()
    assert {r[0] for r in before["bandit_arms"]} == {"drift", "main", "side"}
    instance = dg.DagsterInstance.ephemeral()
    add_account_partitions(["drift", "main", "side"], on_instance=instance)
    assert dg.materialize(LEARN_ASSETS, partition_key="side", instance=instance,
                          resources=resources(built.url, built.prefix)).success
    assert learned_rows() == before


def test_models_are_published_to_redis_as_json(built):
    published = redis_snapshot(built.prefix)
    latest = json.loads(published[f"{built.prefix}predictor:v2:latest"])
    assert latest["schema_version"] == 1 and set(latest["accounts"]) == {"main", "drift"}
    with built.wh.connect() as conn:
        rows = latest_models(conn)
    for row in rows:
        entry = latest["accounts"][row["account_id"]][row["model_name"]]
        key = f"{built.prefix}predictor:v2:{row['account_id']}:{row['model_name']}:v{row['version']}"
        assert entry["key"] == key and entry["version"] == row["version"]
        assert entry["model"] == json.loads(row["model_json"])
        assert json.loads(published[key]) == entry  # the versioned key holds the same JSON
    assert len(published) == len(rows) + 1


def test_loader_prefers_redis_then_the_warehouse_then_the_seed_defaults(built):
    wh = built.wh
    from_redis = load_models(wh, "main", REDIS_URL, key_prefix=built.prefix)
    assert from_redis.source == "redis" and from_redis.versions == {ENGAGEMENT_MODEL: 1, FOLLOW_MODEL: 1}
    with wh.connect() as conn:
        stored = json.loads(newest_registry_row(conn, "main", ENGAGEMENT_MODEL)["model_json"])
        sample = conn.fetch_df("select * from analytics.training_set where account_id = 'main' limit 5")
    assert from_redis.engagement == stored
    types = [n[3:] for n in stored["feature_names"] if n.startswith("ct_")]
    predicted = predict_engagement(from_redis.engagement, feature_frame(sample, types))
    assert ((predicted >= 0) & (predicted <= 1)).all()

    # Nothing under this prefix, then an unreachable Redis, then no Redis at all: the warehouse registry answers.
    for url, prefix, note in (
        (REDIS_URL, f"{built.prefix}nothing-here:", f"redis has no {built.prefix}nothing-here:predictor:v2:latest"),
        ("redis://127.0.0.1:1/0", "", "redis unavailable"),
        (None, "", "redis not configured"),
    ):
        loaded = load_models(wh, "main", url, key_prefix=prefix)
        assert loaded.source == "warehouse", loaded.detail
        assert note in loaded.detail and loaded.engagement == stored

    # No model for this account anywhere: the seed defaults, flagged as defaults.
    side = load_models(wh, "side", REDIS_URL, key_prefix=built.prefix)
    assert side.source == "seed_default" and side.is_default
    assert side.engagement["source"] == "seed_default" and not side.engagement["trained"]
    assert side.versions == {ENGAGEMENT_MODEL: None, FOLLOW_MODEL: None}
    assert "seed default, not learned" in side.detail

    # A learned engagement model and a default follow model: reported per model, and overall as the default.
    drift = load_models(wh, "drift", REDIS_URL, key_prefix=built.prefix)
    assert drift.sources == {ENGAGEMENT_MODEL: "redis", FOLLOW_MODEL: "seed_default"}
    assert drift.source == "seed_default"

    # No warehouse either: still a usable answer.
    nowhere = load_models(None, "main", None)
    assert nowhere.source == "seed_default"


def test_definitions_put_the_learn_group_in_the_refresh_job_and_read_redis_from_the_environment(monkeypatch):
    from xbot_assets.definitions import defs

    monkeypatch.delenv("XBOT_REDIS_URL", raising=False)
    loaded = defs()
    keys = loaded.resolve_job_def("refresh_job").asset_layer.selected_asset_keys
    assert {a.key for a in LEARN_ASSETS} <= set(keys)
    graph = loaded.resolve_asset_graph()
    assert all(graph.get(a.key).group_name == "learn" for a in LEARN_ASSETS)
    assert loaded.resources["redis"].url is None  # unset = no Redis

    monkeypatch.setenv("XBOT_REDIS_URL", REDIS_URL)
    redis_resource = defs().resources["redis"]
    assert isinstance(redis_resource.url, dg.EnvVar) and redis_resource.url.env_var_name == "XBOT_REDIS_URL"


def test_learning_settings_come_from_the_environment(monkeypatch):
    for name in ("XBOT_MIN_TRAINING_SAMPLES", "XBOT_UCB_C", "XBOT_ARM_HALF_LIFE_DAYS", "XBOT_LEARNING_WINDOW_DAYS",
                 "XBOT_MODEL_WINDOW_DAYS", "XBOT_TOPIC_REWARD", "XBOT_MODEL_MIN_AGE_HOURS",
                 "XBOT_ENGAGEMENT_HALF_LIFE_DAYS", "XBOT_ENGAGEMENT_MIN_AGE_HOURS"):
        monkeypatch.delenv(name, raising=False)
    assert LearningSettings.from_env() == LearningSettings()
    assert LearningSettings().topic_reward == "success"
    monkeypatch.setenv("XBOT_MIN_TRAINING_SAMPLES", "80")
    monkeypatch.setenv("XBOT_UCB_C", "2")
    monkeypatch.setenv("XBOT_ARM_HALF_LIFE_DAYS", "14")
    monkeypatch.setenv("XBOT_LEARNING_WINDOW_DAYS", "14")
    monkeypatch.setenv("XBOT_MODEL_WINDOW_DAYS", "0")
    monkeypatch.setenv("XBOT_ENGAGEMENT_HALF_LIFE_DAYS", "0")
    assert LearningSettings.from_env() == LearningSettings(
        min_training_samples=80, ucb_c=2.0, arm_half_life_days=14.0, learning_window_days=14, model_window_days=None,
        engagement_half_life_days=None,
    )
    monkeypatch.setenv("XBOT_ENGAGEMENT_HALF_LIFE_DAYS", "-1")
    with pytest.raises(ValueError, match="XBOT_ENGAGEMENT_HALF_LIFE_DAYS"):
        LearningSettings.from_env()
    monkeypatch.setenv("XBOT_ENGAGEMENT_HALF_LIFE_DAYS", "10")
    assert LearningSettings.from_env().engagement_half_life_days == 10.0
    assert LearningSettings.from_env().engagement_min_age_hours == 6.0
    monkeypatch.setenv("XBOT_ENGAGEMENT_MIN_AGE_HOURS", "12")
    assert LearningSettings.from_env().engagement_min_age_hours == 12.0
    monkeypatch.setenv("XBOT_ENGAGEMENT_MIN_AGE_HOURS", "-1")
    with pytest.raises(ValueError, match="XBOT_ENGAGEMENT_MIN_AGE_HOURS"):
        LearningSettings.from_env()
    monkeypatch.delenv("XBOT_ENGAGEMENT_MIN_AGE_HOURS")
    monkeypatch.setenv("XBOT_ARM_HALF_LIFE_DAYS", "auto")
    assert LearningSettings.from_env().arm_half_life_days == "auto"
    monkeypatch.setenv("XBOT_ARM_HALF_LIFE_DAYS", "0")
    assert LearningSettings.from_env().arm_half_life_days is None
    monkeypatch.setenv("XBOT_ARM_HALF_LIFE_DAYS", "-3")
    with pytest.raises(ValueError, match="XBOT_ARM_HALF_LIFE_DAYS"):
        LearningSettings.from_env()
    monkeypatch.setenv("XBOT_ARM_HALF_LIFE_DAYS", "0")
    monkeypatch.setenv("XBOT_TOPIC_REWARD", " F_per_1K ")
    assert LearningSettings.from_env().topic_reward == "f_per_1k"
    monkeypatch.setenv("XBOT_TOPIC_REWARD", "followers")
    with pytest.raises(ValueError, match="XBOT_TOPIC_REWARD must be one of success, f_per_1k"):
        LearningSettings.from_env()


def test_the_engagement_model_reads_six_half_lives_back_and_the_follow_model_84_days():
    from xbot_assets.learned.models import model_settings

    settings = LearningSettings()  # a 30-day model window, the engagement model's half-life 14 days
    assert model_settings(ENGAGEMENT_MODEL, settings).model_window_days == 84
    assert model_settings(FOLLOW_MODEL, settings).model_window_days == 84
    assert model_settings(FOLLOW_MODEL, replace(settings, model_window_days=120)).model_window_days == 120
    assert model_settings(FOLLOW_MODEL, replace(settings, model_window_days=None)).model_window_days is None
    assert model_settings(ENGAGEMENT_MODEL, replace(settings, model_window_days=120)).model_window_days == 120
    assert model_settings(ENGAGEMENT_MODEL, replace(settings, model_window_days=None)).model_window_days is None
    unweighted = replace(settings, engagement_half_life_days=None)
    assert model_settings(ENGAGEMENT_MODEL, unweighted).model_window_days == 30


def test_an_automatic_half_life_is_chosen_per_arm_scope_and_stored(built):
    from xbot_assets.learning.forgetting import HALF_LIVES

    with built.wh.connect(read_only=True) as conn:
        auto = compute_bandit_arms(conn, "main", NOW, LearningSettings(arm_half_life_days="auto"))
    chosen = auto.groupby("scope")["half_life_days"].agg(["first", "nunique"])
    assert (chosen["nunique"] <= 1).all()  # one half-life per scope
    assert all(pd.isna(h) or h in HALF_LIVES for h in chosen["first"])


def test_recency_decay_weights_successes_but_keeps_the_play_counts(built):
    class Rollback(Exception):
        pass

    decayed_settings = LearningSettings(arm_half_life_days=7.0)
    with pytest.raises(Rollback), built.wh.connect() as conn:  # written, checked, then rolled back
        plain = compute_bandit_arms(conn, "main", NOW, LearningSettings(arm_half_life_days=None)).set_index(
            "arm_name")
        decayed = compute_bandit_arms(conn, "main", NOW, decayed_settings).set_index("arm_name")
        played = plain.index[plain["plays"] > 0]
        assert (decayed.loc[played, "plays"] == plain.loc[played, "plays"]).all()
        total = decayed.loc[played, "successes"] + decayed.loc[played, "failures"]
        assert (total < plain.loc[played, "plays"]).all() and (total > 0).all()
        assert (decayed["half_life_days"] == 7.0).all() and plain["half_life_days"].isna().all()
        write_bandit_arms(conn, "main", decayed.reset_index()[list(ARM_COLUMNS)])
        assert arm_count_mismatches(conn) == []  # plays still match; weighted counts are not compared
        raise Rollback
    with built.wh.connect() as conn:
        assert conn.scalar("select count(*) from learn.bandit_arms where half_life_days is not null") == 0


def test_the_engagement_model_learns_young_posts_at_the_rate_they_settle_at(built):
    """Posts between XBOT_ENGAGEMENT_MIN_AGE_HOURS (6) and XBOT_MODEL_MIN_AGE_HOURS (24 here) old enter the
    engagement model's training with their rate times the development factor of the settled posts' snapshots
    (analytics.post_metrics_by_age); the follow model does not read them."""
    from xbot_assets.learned.models import engagement_training_frame, model_settings, training_frame
    from xbot_assets.learning.label_maturity import development_factors

    settings = model_settings(ENGAGEMENT_MODEL, LearningSettings.from_env())
    with built.wh.connect() as conn:
        frame = engagement_training_frame(conn, "main", NOW, settings)
        settled = training_frame(conn, "main", NOW, settings)
        snapshots = conn.fetch_df("select * from analytics.post_metrics_by_age where account_id = 'main'")
        read = conn.fetch_df("select decision_id, engagement_rate from analytics.training_set "
                             "where account_id = 'main' and age_hours >= 6 and age_hours < 24")
        registered = json.loads(conn.fetchone(
            "select metrics from learn.model_registry where account_id = 'main' and model_name = ? "
            "order by version desc limit 1", [ENGAGEMENT_MODEL])[0])
    young = frame[frame["settled_by_factor"]].set_index("decision_id")
    assert len(young) == len(read) > 0
    assert set(frame.loc[~frame["settled_by_factor"], "decision_id"]) == set(settled["decision_id"])
    read = read.set_index("decision_id").loc[young.index]
    factors = development_factors(snapshots, young["age_hours"].to_numpy(), 24.0)
    assert young["engagement_rate"].to_numpy() == pytest.approx(read["engagement_rate"].to_numpy() * factors)
    # the static history's snapshots: a rate read young runs high, so the factors bring it down
    assert (factors < 1.0).all()
    assert registered["young_posts"] == len(young)
