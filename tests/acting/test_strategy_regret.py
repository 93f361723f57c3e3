"""Topic and hook regret against their Lai–Robbins bounds, and whether the learned strategy names the truth's best
(issue 17): the pure parts on hand-made data, then a short evaluation on the topic_hook scenario (DuckDB)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from xbot_assets.evaluation.strategy_regret import (
    OFFLINE_TOPICS,
    arm_regret,
    faced_arm_probs,
    follow_ceiling,
    scope_regret,
)
from xbot_assets.ingest.hooks import HOOK_TYPES
from xbot_assets.simulation import AudienceSimulator, bernoulli_kl, load_scenario


def test_arm_regret_on_hand_made_arms():
    regret, bound = arm_regret({"a": 0.5, "b": 0.3, "c": 0.5}, ["a", "b", "b", "c"])
    assert regret == pytest.approx(0.4)
    assert bound == pytest.approx(math.log(4) * 0.2 / bernoulli_kl(0.3, 0.5))
    assert arm_regret({"a": 0.5, "b": 0.3}, []) == (0.0, 0.0)
    assert arm_regret({"a": 0.5, "b": 0.3}, ["b"]) == (pytest.approx(0.2), 0.0)  # one post: no bound yet
    assert arm_regret({"a": 0.4, "b": 0.4}, ["a", "b", "a"]) == (0.0, 0.0)  # every arm ties


def _posts(topic: str, hook: str, n: int = 12) -> pd.DataFrame:
    return pd.DataFrame({"content_type": ["wellness_tip", "myth_busting"] * (n // 2), "local_hour": [9, 14] * (n // 2),
                         "quality_score": [0.7, 0.8] * (n // 2), "day": list(range(n)), "topic_arm": topic,
                         "hook": hook})


def test_topic_and_hook_regret_from_the_scenarios_truth():
    sim = AudienceSimulator(load_scenario("topic_hook"))
    probs = faced_arm_probs(sim, _posts("sleep", "story"), "topic", OFFLINE_TOPICS, 0)
    assert max(probs, key=probs.get) == "sleep" and set(probs) == set(OFFLINE_TOPICS)
    assert probs["sleep"] > probs["strength"] > probs["sunlight"]
    assert scope_regret(sim, _posts("sleep", "surprising number"), 12, "topic", OFFLINE_TOPICS)[0] == 0.0
    assert scope_regret(sim, _posts("sleep", "surprising number"), 12, "hook", HOOK_TYPES)[0] == 0.0
    regret, bound = scope_regret(sim, _posts("sunlight", "myth/fact"), 12, "topic", OFFLINE_TOPICS)
    expected, _ = arm_regret(faced_arm_probs(sim, _posts("sunlight", "myth/fact"), "topic", OFFLINE_TOPICS, 0),
                             ["sunlight"] * 12)
    assert regret == pytest.approx(expected) and regret > 1.0 and bound > 0
    # Posts without a topic (or on none of the arms) are not the bandit's: they count nowhere.
    assert scope_regret(sim, _posts("(none)", "story"), 12, "topic", OFFLINE_TOPICS) == (0.0, 0.0)
    # Without effects every arm is alike: nothing to regret, no bound.
    plain = AudienceSimulator(load_scenario("default"))
    assert scope_regret(plain, _posts("sunlight", "list"), 12, "topic", OFFLINE_TOPICS) == (0.0, 0.0)


def test_the_oracle_takes_the_best_topic_and_hook():
    assert follow_ceiling(load_scenario("default")) == 1.0
    assert follow_ceiling(load_scenario("topic_hook")) == pytest.approx(1.6 * 1.4)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    from xbot_assets.runtime.instance import definitions

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("XBOT_REDIS_URL", raising=False)
    definitions.cache_clear()
    yield tmp_path
    definitions.cache_clear()


def test_evaluate_on_topic_hook_reports_topic_and_hook_regret(isolated):
    from xbot_assets.evaluation.evaluate import evaluate

    evaluation = evaluate("topic_hook", 3, 1, warehouse_path=isolated / "eval.duckdb", workdir=isolated)
    result, loop = evaluation.result, evaluation.loop
    assert result["f_per_1k"]["oracle"] == pytest.approx(3.4 * 1.6 * 1.4)
    for scope in ("topic", "hook"):
        assert set(result[f"{scope}_regret"]) == {"learned", "lai_robbins_bound"}
        assert result[f"{scope}_regret"]["learned"] >= 0 and result[f"{scope}_regret"]["lai_robbins_bound"] > 0
    seed = result["per_seed"][0]
    for policy in ("weights", "posterior"):
        names = seed[policy]["strategy_names"]
        assert names["topic"]["true_best"] == "sleep" and names["hook"]["true_best"] == "surprising number"
        assert names["topic"]["named"] in OFFLINE_TOPICS and names["hook"]["named"] in HOOK_TYPES
        assert names["topic"]["correct"] == (names["topic"]["named"] == "sleep")
    assert set(result["strategy_names_true_best"]) == {"topic", "hook"}
    assert set(seed["static_strategy_regret"]) == {"topic_regret", "hook_regret"}
    # The simulated platform kept every post's topic arm and hook, and its truth used them.
    posts = loop.simulated_posts("eval-s17-weights")
    assert len(posts) == 12 and posts["topic_arm"].isin(OFFLINE_TOPICS).all() and posts["hook"].isin(HOOK_TYPES).all()
    sim = loop.connectors["eval-s17-weights"].simulator
    row = posts.iloc[0]
    assert row["true_er"] == pytest.approx(sim.expected_er(row["content_type"], row["local_hour"],
                                                           row["quality_score"], 0, topic=row["topic_arm"],
                                                           hook=row["hook"]))
    assert row["true_f_per_1k"] == pytest.approx(
        sim.scenario.generators[row["generator_name"]] * sim.scenario.topic_effect(row["topic_arm"], "follows")
        * sim.scenario.hook_effect(row["hook"], "follows"))


def test_the_simulated_platform_replays_topic_and_hook(duckdb_url):
    from datetime import datetime, timedelta

    from xbot_assets.connectors import simulator as simulator_module
    from xbot_assets.connectors.base import Publication
    from xbot_assets.connectors.simulator import SimulatorConnector
    from xbot_assets.warehouse.connection import Warehouse

    wh = Warehouse.from_url(duckdb_url)
    wh.migrate()
    scenario = load_scenario("topic_hook")
    first = SimulatorConnector(wh, "acct", scenario, seed=5)
    at = datetime(2026, 1, 1, 9)
    for i, (topic, hook) in enumerate([("sleep", "surprising number"), ("sunlight", "myth/fact"), (None, None)]):
        first.publish(Publication(f"d{i}", f"text {i}", (), "wellness_tip", "dataNerd", 0.8, topic_arm=topic,
                                  hook=hook), at + timedelta(hours=i))
    simulator_module._CACHE.clear()  # as in a new process
    second = SimulatorConnector(wh, "acct", scenario, seed=5)
    assert [p.to_dict() for p in second.simulator.posts] == [p.to_dict() for p in first.simulator.posts]
    assert [(p.topic_arm, p.hook) for p in second.simulator.posts] == [
        ("sleep", "surprising number"), ("sunlight", "myth/fact"), (None, None)]
    assert second.simulator.posts[0].true_f_per_1k == pytest.approx(3.4 * 1.6 * 1.4)
