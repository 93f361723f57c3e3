"""Off-policy estimators on synthetic logged bandit data whose target value is known exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xbot_assets.learning.ope import (
    AdditiveActionMeans,
    OffPolicyRefused,
    RewardColumn,
    doubly_robust,
    effective_sample_size,
    estimate_policy_value,
    importance_weights,
    ipw,
    snipw,
)
from xbot_assets.learning.ope_policy import TargetPolicy, evaluate_target, uniform_over

MEANS = np.array([0.2, 0.5, 0.8, 0.35])  # each action's expected reward
TARGET = np.array([0.1, 0.2, 0.6, 0.1])
TRUE_VALUE = float(TARGET @ MEANS)


def logged_bandit(seed: int, n: int = 400):
    """Per row a logging distribution (Dirichlet around uniform: every action has positive probability), an action
    drawn from it, a Bernoulli reward, and a direct-method guess that is deliberately off (DR must not need it)."""
    rng = np.random.default_rng(seed)
    logging = rng.dirichlet(np.full(len(MEANS), 3.0), size=n)
    actions = np.array([rng.choice(len(MEANS), p=row) for row in logging])
    rewards = (rng.random(n) < MEANS[actions]).astype(float)
    guess = MEANS + np.array([0.1, -0.1, 0.05, 0.0])
    weights = importance_weights(TARGET[actions], logging[np.arange(n), actions])
    return weights, RewardColumn.of(rewards, guess[actions], np.full(n, TARGET @ guess)), rewards


def test_ipw_and_dr_are_unbiased_and_snipw_consistent_over_seeds():
    estimates = {"ipw": [], "snipw": [], "dr": []}
    for seed in range(200):
        w, column, rewards = logged_bandit(seed)
        estimates["ipw"].append(ipw(w, rewards))
        estimates["snipw"].append(snipw(w, rewards))
        estimates["dr"].append(doubly_robust(w, rewards, column.dm_logged, column.dm_target))
    for name, values in estimates.items():
        spread = np.std(values) / np.sqrt(len(values))
        assert abs(np.mean(values) - TRUE_VALUE) < 4 * spread + 0.005, name
    # DR with a reasonable guess varies less than IPW.
    assert np.std(estimates["dr"]) < np.std(estimates["ipw"])


def test_bootstrap_interval_covers_the_truth_at_about_its_level():
    covered = 0
    for seed in range(60):
        w, column, _ = logged_bandit(seed, n=300)
        result = estimate_policy_value(w, column, bootstrap=200, seed=seed, level=0.9)
        covered += result.dr.ci_low <= TRUE_VALUE <= result.dr.ci_high
        assert result.dr.ci_low <= result.dr.value <= result.dr.ci_high
    assert covered / 60 >= 0.8


def test_the_bootstrap_is_seeded():
    w, column, _ = logged_bandit(1)
    first = estimate_policy_value(w, column, bootstrap=100, seed=7)
    assert first == estimate_policy_value(w, column, bootstrap=100, seed=7)
    assert first.dr.ci_low != estimate_policy_value(w, column, bootstrap=100, seed=8).dr.ci_low


def test_effective_sample_size():
    assert effective_sample_size(np.ones(50)) == pytest.approx(50)
    assert effective_sample_size([1.0, 0.0, 0.0, 0.0]) == pytest.approx(1)
    assert effective_sample_size([2.0, 1.0, 1.0]) == pytest.approx(16 / 6)


def test_snipw_equals_ipw_when_weights_average_one_and_differs_otherwise():
    assert snipw([0.5, 1.5], [1.0, 3.0]) == pytest.approx(ipw([0.5, 1.5], [1.0, 3.0]) / 1.0)
    assert snipw([2.0, 2.0], [1.0, 3.0]) == pytest.approx(2.0) and ipw([2.0, 2.0], [1.0, 3.0]) == pytest.approx(4.0)


def test_a_ratio_is_the_ratio_of_the_estimates():
    rng = np.random.default_rng(0)
    n = 100
    w = rng.uniform(0.5, 1.5, n)
    followers, impressions = rng.poisson(3, n).astype(float), rng.uniform(500, 1500, n)
    result = estimate_policy_value(w, RewardColumn.of(followers), RewardColumn.of(impressions), scale=1000,
                                   bootstrap=50)
    assert result.ipw.value == pytest.approx(1000 * np.sum(w * followers) / np.sum(w * impressions))
    assert result.snipw.value == pytest.approx(result.ipw.value)
    assert result.observed == pytest.approx(1000 * followers.sum() / impressions.sum())


def test_additive_action_means_shrink_towards_the_overall_mean():
    actions = pd.DataFrame({"generator_name": ["a", "a", "a", "b"], "content_type": ["x", "y", "x", "y"]})
    means = AdditiveActionMeans.fit(actions, [1.0, 1.0, 1.0, 5.0])
    assert means.overall == 2.0
    assert means.offsets["generator_name"]["b"] == pytest.approx(3.0 / 2)  # one row, prior weight one row
    assert means.predict(generator_name="unseen", content_type="unseen") == 2.0


# ---------------------------------------------------------------------------------------------------------------------
# The planner's logs: content type × generator, F/1K as a ratio, refusals

GENERATOR_F1K = {"alpha": 1.0, "beta": 3.0, "gamma": 6.0}
TYPE_ER = {"tip": 0.03, "myth": 0.05}


def planner_logs(seed: int, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    gen_p = np.array([0.6, 0.3, 0.1])
    rows = []
    for i in range(n):
        g = rng.choice(len(gen_p), p=gen_p)
        ct_p = rng.uniform(0.2, 0.8)  # the Thompson probability of "tip" changes as the arms learn
        tip = rng.random() < ct_p
        ct = "tip" if tip else "myth"
        impressions = float(rng.lognormal(7, 0.4))
        name = list(GENERATOR_F1K)[g]
        rows.append({
            "content_type": ct, "generator_name": name, "content_propensity": ct_p if tip else 1 - ct_p,
            "generator_propensity": gen_p[g], "timing_propensity": 1.0 if i % 10 else 0.5,
            "impressions": impressions, "followers_gained": float(rng.poisson(GENERATOR_F1K[name] * impressions / 1000)),
            "engagement_rate": float(rng.binomial(int(impressions), TYPE_ER[ct]) / impressions),
            "quality_score": 0.7, "posted_hour": 9 + i % 8, "is_thread": float(ct == "tip"),
            "novelty_score": 0.5, "expertise_score": 0.5, "viral_score": 0.5,
        })
    return pd.DataFrame(rows)


def test_evaluate_target_recovers_the_f_per_1k_of_a_generator_change():
    target = TargetPolicy("uniform", generators=uniform_over(GENERATOR_F1K))
    truth = np.mean(list(GENERATOR_F1K.values()))  # impressions do not depend on the generator here
    errors = []
    for seed in range(20):
        result = evaluate_target(planner_logs(seed), target, bootstrap=100, seed=seed)
        errors.append(result["f_per_1k"]["estimates"]["dr"]["value"] - truth)
        assert result["evaluated"] == ["generators"]
    assert abs(np.mean(errors)) < 0.1 and np.sqrt(np.mean(np.square(errors))) < 0.4
    assert "hour: UCB1, deterministic (propensity 1 on 540 of 600 posts" in " ".join(result["notes"])
    assert result["engagement_rate"]["estimates"]["dr"]["value"] == pytest.approx(0.04, abs=0.005)


def test_evaluate_target_recovers_the_engagement_of_a_content_change():
    target = TargetPolicy("myth", content_types={"tip": 0.1, "myth": 0.9})
    values = [evaluate_target(planner_logs(seed), target, bootstrap=50)["engagement_rate"]["estimates"]
              for seed in range(10)]
    truth = 0.1 * TYPE_ER["tip"] + 0.9 * TYPE_ER["myth"]
    for name in ("ipw", "snipw", "dr"):
        assert np.mean([v[name]["value"] for v in values]) == pytest.approx(truth, abs=0.002), name


def test_refusals_say_why():
    logs = planner_logs(0, n=100)
    uniform = TargetPolicy("uniform", generators=uniform_over(GENERATOR_F1K))
    with pytest.raises(OffPolicyRefused, match="20 logged posts with outcomes; .* at least 30"):
        evaluate_target(logs.head(20), uniform, bootstrap=10)
    zero = logs.assign(generator_propensity=logs["generator_propensity"].where(logs.index != 3, 0.0))
    with pytest.raises(OffPolicyRefused, match="1 of 100 logged posts have a generator_propensity outside"):
        evaluate_target(zero, uniform, bootstrap=10)
    missing = logs.assign(generator_propensity=logs["generator_propensity"].where(logs.index > 1))
    with pytest.raises(OffPolicyRefused, match="2 of 100 logged posts have no generator_propensity"):
        evaluate_target(missing, uniform, bootstrap=10)
    unseen = TargetPolicy("new", generators={"alpha": 0.5, "delta": 0.3, "omega": 0.2})
    with pytest.raises(OffPolicyRefused, match="50.0% of its generator choices on delta, omega, never chosen"):
        evaluate_target(logs, unseen, bootstrap=10)
    with pytest.raises(OffPolicyRefused, match="sum to 0.9000"):
        evaluate_target(logs, TargetPolicy("bad", generators={"alpha": 0.9}), bootstrap=10)
    with pytest.raises(OffPolicyRefused, match="it is the logging policy itself"):
        evaluate_target(logs, TargetPolicy("same"), bootstrap=10)
    # A generator the target never picks is fine, unless it picks none of the logged ones.
    assert evaluate_target(logs, TargetPolicy("gamma", generators={"gamma": 1.0}), bootstrap=10)["posts"] == 100
