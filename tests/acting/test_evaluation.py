"""`xbot evaluate`: the JSON object of PRODUCT §7 from the real pipeline (a short run; the targets are in the README)."""

import json
import tempfile

import pytest

from xbot_assets.evaluation.evaluate import evaluate
from xbot_assets.operator.cli import main


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    from xbot_assets.runtime.instance import definitions

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("XBOT_REDIS_URL", raising=False)
    definitions.cache_clear()
    yield tmp_path
    definitions.cache_clear()


def test_evaluate_prints_the_product_keys(isolated, capsys, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(isolated))
    assert main(["evaluate", "--scenario", "default", "--days", "2", "--json"]) == 0
    assert not list(isolated.glob("xbot-evaluate-*"))  # its warehouse is removed when the command ends
    result = json.loads(capsys.readouterr().out)
    for key in ("days", "posts", "f_per_1k", "lift_vs_static", "share_of_oracle", "content_regret",
                "engagement_model", "follow_model"):
        assert key in result, key
    assert set(result["f_per_1k"]) == {"learned", "static", "oracle"}
    assert set(result["content_regret"]) == {"learned", "lai_robbins_bound"}
    assert set(result["generator_regret"]) == {"learned", "lai_robbins_bound", "share_at_floor"}
    assert result["generator_regret"] == pytest.approx(seed_regret := result["per_seed"][0]["posterior"][
        "generator_regret"])
    assert seed_regret["learned"] >= 0 and seed_regret["lai_robbins_bound"] > 0
    assert seed_regret["share_at_floor"] is None  # two days: the asymptotic floor exceeds the oracle's followers
    assert set(result["engagement_model"]) == {"r2_holdout", "r2_ceiling", "r2_forward", "r2_forward_ceiling"}
    assert set(result["follow_model"]) == {"auc_holdout", "auc_ceiling", "auc_forward", "auc_forward_ceiling"}
    assert set(result["policies"]) == {"weights", "posterior"}
    assert result["days"] == 2 and result["posts"] == 8  # 4 posts a day
    assert result["f_per_1k"]["oracle"] == pytest.approx(3.4)  # dataNerd, the default scenario's best
    seed = result["per_seed"][0]
    assert seed["posts"] == {"weights": 8, "posterior": 8, "static": 8}
    # Two days are below the models' minimum sample count: nothing is claimed for them.
    assert result["engagement_model"]["r2_holdout"] is None
    assert result["engagement_model"]["r2_forward"] is None
    assert seed["posterior"]["engagement_model"]["forward_posts"] == 0
    assert result["generator_policy"] == "posterior"  # the headline is what a new account gets
    assert result["lift_vs_static"] == pytest.approx(
        seed["f_per_1k"]["posterior"] / seed["f_per_1k"]["static"] - 1.0)
    # Two days are one window, whose numbers are the whole run's (issue 14: `windows` per policy).
    (window,) = result["policies"]["posterior"]["windows"]
    assert (window["from_day"], window["to_day"]) == (0, 1)
    assert window["share_of_oracle"] == pytest.approx(result["share_of_oracle"])
    assert window["lift_vs_static"] == pytest.approx(result["lift_vs_static"])
    assert len(result["policies"]["weights"]["windows"]) == 1
    assert result["settings"]["reported_follows"] is True  # the default scenario's


def test_reported_follows_can_be_switched_off_for_the_attribution_path(isolated, monkeypatch):
    from xbot_assets.operator.cli import evaluation_text
    from xbot_assets.warehouse.connection import Warehouse

    monkeypatch.setenv("XBOT_TOPIC_REWARD", "f_per_1k")  # issue 17: topic arms learned on follows
    monkeypatch.setenv("XBOT_ARM_HALF_LIFE_DAYS", "0")
    monkeypatch.setenv("XBOT_CHANGE_POINTS", "0")
    monkeypatch.setenv("XBOT_ENGAGEMENT_HALF_LIFE_DAYS", "21")
    path = isolated / "evaluation.duckdb"
    result = evaluate("default", 2, 1, warehouse_path=path, reported_follows=False, workdir=isolated).result
    assert result["settings"]["reported_follows"] is False
    assert result["settings"]["topic_reward"] == "f_per_1k"
    with Warehouse.from_url(str(path)).connect(read_only=True) as conn:
        counted = conn.fetchall("select count(*), count(followers_reported), count(followers_gained) "
                                "from analytics.outcomes where passes_learning_gate")
        rewards = conn.fetchall("select scope, reward, count(*) from learn.bandit_arms group by scope, reward")
    (posts, reported, gained), = counted
    assert posts > 0 and reported == 0 and gained == posts  # every follow attributed, none reported
    by_scope = {scope: reward for scope, reward, _ in rewards}
    assert by_scope["topic"] == "f_per_1k" and by_scope["content"] == by_scope["hook"] == "success"
    assert len({scope for scope, _, _ in rewards}) == len(rewards)  # one kind of posterior per scope
    # The text summary says what produced it: the learners' settings, as the operator sets them.
    text = evaluation_text(result)
    assert result["settings"]["change_points"] is False
    assert ("settings: arm_half_life_days 0, change_points off, engagement_half_life_days 21, "
            "generator_half_life_days auto, "
            "reported_follows off, topic_reward f_per_1k") in text


def test_seeds_run_in_parallel_processes_give_the_numbers_one_loop_gives(isolated, capsys):
    """`xbot evaluate --jobs 2` (issue 15): each process runs its own seeds' loop in its own warehouse; a seed's
    accounts read no other seed's rows, so every number but the timings is the one-loop run's."""
    one = evaluate("default", 2, 2, workdir=isolated).result
    assert main(["evaluate", "--scenario", "default", "--days", "2", "--seeds", "2", "--jobs", "2", "--json"]) == 0
    two = json.loads(capsys.readouterr().out)
    assert one["timing_seconds"]["jobs"] == 1 and two["timing_seconds"]["jobs"] == 2
    assert two["per_seed"] == json.loads(json.dumps(one["per_seed"]))
    assert two["policies"] == json.loads(json.dumps(one["policies"]))
    assert two["timing_seconds"]["breakdown"]  # the processes' steps, summed
    # The planner's cost per candidate: its step's seconds over the candidates both processes wrote.
    for result in (one, two):
        timing = result["timing_seconds"]
        assert timing["planner_ms_per_candidate"] > 0
        assert timing["planner_ms_per_candidate"] < 1000 * timing["breakdown"]["act__planned_posts"]
    with pytest.raises(ValueError, match="--jobs must be at least 1"):
        evaluate("default", 2, 1, jobs=0)


def test_windows_split_the_run_into_consecutive_ten_day_stretches():
    import pandas as pd

    from xbot_assets.evaluation.closed_loop import realized_f_per_1k
    from xbot_assets.evaluation.windows import mean_windows, policy_windows

    days = list(range(25))
    # The learner gains 1 follower per 1000 impressions until day 9, then 2, then 3 (days 20-24); static always 1.
    learned = pd.DataFrame({"day": days, "impressions": [1000] * 25, "follows": [1 + d // 10 for d in days]})
    static = learned.assign(follows=1)
    windows = policy_windows({"weights": learned, "static": static}, "weights", 25, lambda w: 4.0 if len(w) else None,
                             realized_f_per_1k)
    assert [(w["from_day"], w["to_day"]) for w in windows] == [(0, 9), (10, 19), (20, 24)]
    assert [w["share_of_oracle"] for w in windows] == [0.25, 0.5, 0.75]
    assert [w["lift_vs_static"] for w in windows] == [0.0, 1.0, 2.0]
    other = [{**w, "share_of_oracle": 0.0} for w in windows]
    assert [w["share_of_oracle"] for w in mean_windows([windows, other], lambda v: sum(v) / len(v))] == \
        [0.125, 0.25, 0.375]


def test_common_random_numbers_make_policies_comparable(isolated):
    loop = evaluate("hidden_gem", 2, 1, workdir=isolated).loop
    posts = {a.account_id: loop.simulated_posts(a.account_id) for a in loop.accounts}
    static = posts["eval-s11-static"].set_index("post_index")
    learned = posts["eval-s11-weights"].set_index("post_index")
    # Slot k of both accounts drew the same lognormal impressions (up to the hour and thread multipliers).
    common = static.index.intersection(learned.index)
    ratio = (static.loc[common, "impressions"] / static.loc[common, "expected_impressions"]) / (
        learned.loc[common, "impressions"] / learned.loc[common, "expected_impressions"])
    assert len(common) == 8 and ratio.between(0.98, 1.02).all()
