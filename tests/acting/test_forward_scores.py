"""Each model version scored on the posts published while it was in use (the evaluation's forward scores)."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from xbot_assets.acting.accounts import Account
from xbot_assets.evaluation.closed_loop import run_closed_loop
from xbot_assets.evaluation.forward_scores import (
    auc_score,
    forward_predictions,
    forward_scores,
    history_frame,
    r2_score,
)
from xbot_assets.learned.store import LearningSettings
from xbot_assets.learning.predictors import ENGAGEMENT_MODEL, FOLLOW_MODEL
from xbot_assets.simulation.scenario import load_scenario
from xbot_assets.warehouse.connection import Warehouse


@pytest.fixture
def short_loop(duckdb_url, tmp_path, monkeypatch):
    from xbot_assets.runtime.instance import definitions

    monkeypatch.setenv("XBOT_WAREHOUSE", duckdb_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("XBOT_REDIS_URL", raising=False)
    monkeypatch.setenv("XBOT_MIN_TRAINING_SAMPLES", "6")  # models from the third day on
    monkeypatch.setenv("XBOT_MODEL_MIN_AGE_HOURS", "24")  # and posts old enough to score within five days
    definitions.cache_clear()
    wh = Warehouse.from_url(duckdb_url)
    # default's posts mostly win a follower or more; a follow label of three makes both classes early
    monkeypatch.setenv("XBOT_FOLLOW_MIN_FOLLOWERS", "3")
    scenario = load_scenario("default")
    account = Account("fwd", scenario="default", sim_seed=5, publish_enabled=True, generator_policy="posterior")
    loop = run_closed_loop(wh, scenario, [account], 5, instance=dg.DagsterInstance.ephemeral(),
                           final_job_name="learn_and_plan_job")  # the marts hold the last day too
    yield wh, loop
    definitions.cache_clear()


def test_each_post_is_scored_by_the_version_the_planner_used(short_loop):
    wh, loop = short_loop
    end = pd.Timestamp(loop.scenario.start).tz_convert(None).to_pydatetime() + pd.Timedelta(days=5)
    with wh.connect() as conn:
        history = history_frame(conn, "fwd", end, LearningSettings.from_env())
        forward = forward_predictions(conn, "fwd", ENGAGEMENT_MODEL, history)
        versions = conn.fetch_df("select version, created_at from learn.model_registry "
                                 "where account_id = 'fwd' and model_name = ? order by version", [ENGAGEMENT_MODEL])
        follow = forward_predictions(conn, "fwd", FOLLOW_MODEL, history)
        planned = conn.fetch_df("select decision_id, predicted_er, predicted_follow_prob from raw.posts "
                                "where account_id = 'fwd' and status = 'posted'").set_index("decision_id")
    assert len(versions) >= 2  # the first days teach a model, later days a newer one
    scored = forward[forward["prediction"].notna()]
    assert 0 < len(scored) < len(forward)  # the posts before the first version have no forward prediction
    created = versions.set_index("version")["created_at"]
    for row in scored.itertuples():
        assert created[int(row.version)] <= row.posted_at  # never a version trained after the post went out
        newer = created[created.index > row.version]
        assert newer.empty or newer.iloc[0] > row.posted_at  # and the newest one there was
    # The planner scored each post with the models it had then: the forward predictions are those.
    learned = planned.loc[scored["decision_id"]]
    assert np.allclose(scored["prediction"].to_numpy(float), learned["predicted_er"].to_numpy(float), atol=1e-9)
    follows = follow[follow["prediction"].notna()]
    assert len(follows) > 0
    assert np.allclose(follows["prediction"].to_numpy(float),
                       planned.loc[follows["decision_id"], "predicted_follow_prob"].to_numpy(float), atol=1e-9)
    unscored = planned.drop(index=scored["decision_id"])
    assert not unscored.empty


def test_forward_scores_pool_the_scored_posts_and_the_truths_on_the_same_posts():
    predictions = pd.DataFrame({"decision_id": list("abcdef"), "engagement_rate": [0.01, 0.02, 0.03, 0.04, None, 0.05],
                                "prediction": [0.012, 0.018, 0.033, 0.041, 0.02, np.nan]})
    truth = pd.Series([0.011, 0.021, 0.029, 0.04, 0.03, 0.05], index=list("abcdef"))
    scores = forward_scores(predictions, "engagement_rate", truth, r2_score)
    y = np.array([0.01, 0.02, 0.03, 0.04])  # e has no outcome and f no prediction
    assert scores["forward_posts"] == 4
    assert scores["forward"] == pytest.approx(r2_score(y, np.array([0.012, 0.018, 0.033, 0.041])))
    assert scores["forward_ceiling"] == pytest.approx(r2_score(y, np.array([0.011, 0.021, 0.029, 0.04])))
    labels = pd.DataFrame({"decision_id": list("abcd"), "follow_label": [0.0, 1.0, 0.0, 1.0],
                           "prediction": [0.2, 0.7, 0.4, 0.3]})
    expected_follows = pd.Series([0.5, 2.0, 0.8, 1.5], index=list("abcd"))
    follow = forward_scores(labels, "follow_label", expected_follows, auc_score)
    assert follow["forward"] == pytest.approx(0.75) and follow["forward_ceiling"] == pytest.approx(1.0)
    assert forward_scores(labels.iloc[:1], "follow_label", expected_follows, auc_score)["forward"] is None
