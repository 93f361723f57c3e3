"""`xbot evaluate --ope`: the off-policy estimators against the simulator's truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from xbot_assets.evaluation.closed_loop import realized_f_per_1k
from xbot_assets.evaluation.ope_validation import (
    follows_draw_z,
    follows_vs_expected,
    static_target,
    summarize,
    target_on_slots,
)
from xbot_assets.operator.cli import main
from xbot_assets.operator.ope_cli import describe_validation
from xbot_assets.simulation.scenario import load_scenario


def test_the_target_on_the_logged_slots_weighs_each_days_truth_by_impressions():
    scenario = load_scenario("default")
    target = static_target(scenario)
    truth = scenario.truth_at(0).generators
    expected = sum(p * truth[g] for g, p in target.generators.items())
    posts = pd.DataFrame({"day": [0, 1], "impressions": [100.0, 300.0]})
    assert target_on_slots(scenario, target, posts) == pytest.approx(expected)  # stationary: every day alike
    made = pd.DataFrame({"follows": [1, 2], "impressions": [100, 300]})
    assert realized_f_per_1k(made) == pytest.approx(7.5)


def test_summary_reports_the_dr_error_and_coverage_over_seeds():
    def seed(value: float, truth: float, low: float, high: float) -> dict:
        interval = {"value": value, "ci_low": low, "ci_high": high}
        expected = truth * 0.75  # the policy's expected value: here below every interval
        return {"target_description": "t", "reward": "r", "true_value": truth, "true_value_on_logged_slots": truth,
                "policy_value": expected, "observed": 2.0,
                "estimates": {"ipw": interval, "snipw": interval, "dr": interval},
                "effective_sample_size": 50.0, "level": 0.9, "dr_relative_error": value / truth - 1,
                "dr_covers_truth": low <= truth <= high, "logged_follows_vs_expected": value / truth - 1,
                "logged_follows_z": 0.5,
                "dr_relative_error_vs_policy_value": value / expected - 1,
                "dr_covers_policy_value": low <= expected <= high}
    summary = summarize([seed(1.1, 1.0, 0.9, 1.2), seed(1.8, 2.0, 1.6, 1.9), {"refused": "too few"},
                         {"refused": "few effective", "effective_sample_size": 12.5}])
    assert summary["dr_mean_abs_relative_error"] == pytest.approx(0.1)
    assert summary["dr_coverage"] == 0.5 and summary["seeds_estimated"] == 2 and summary["seeds_refused"] == 2
    assert summary["dr_coverage_of_policy_value"] == 0.0 and summary["policy_value"] == pytest.approx(1.125)
    assert summary["dr_mean_abs_relative_error_vs_policy_value"] == pytest.approx((1.1 / 0.75 - 1 + 1.8 / 1.5 - 1) / 2)
    assert summary["refusals"] == [{"reason": "too few"}, {"reason": "few effective", "effective_sample_size": 12.5}]
    assert summary["effective_sample_size"] == 50.0  # of the estimated seeds only
    assert summary["estimates"]["dr"]["value"] == pytest.approx(1.45)
    assert summary["logged_follows_vs_expected"] == pytest.approx([0.1, -0.1])  # per estimated seed
    assert summary["logged_follows_z"] == [0.5, 0.5]
    text = describe_validation(summary)
    assert "covers the run's F/1K in 50% of 2 seeds, the expected value in 0%" in text
    assert "the static run's F/1K 1.50, the policy's expected value 1.12" in text


def test_the_logged_follows_are_weighed_as_the_target_weighs_them():
    # two posts drew 3 and 1 follows where 2 each were expected: even, unless the target leans on one of them
    assert follows_vs_expected([1.0, 1.0], [3, 1], [2.0, 2.0]) == pytest.approx(0.0)
    assert follows_vs_expected([3.0, 1.0], [3, 1], [2.0, 2.0]) == pytest.approx(10 / 8 - 1)
    # in standard deviations: (3·1 + 1·(−1)) / √(9·2 + 1·2)
    assert follows_draw_z([3.0, 1.0], [3, 1], [2.0, 2.0]) == pytest.approx(2 / np.sqrt(20))


def test_the_draw_z_is_standard_normal_over_poisson_draws():
    rng = np.random.default_rng(3)
    expected = rng.uniform(0.5, 4.0, size=240)
    weights = rng.uniform(0.2, 3.0, size=240)
    z = [follows_draw_z(weights, rng.poisson(expected), expected) for _ in range(2000)]
    assert abs(np.mean(z)) < 0.1 and abs(np.std(z) - 1.0) < 0.05


def test_evaluate_ope_on_two_days_refuses_with_the_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    assert main(["evaluate", "--scenario", "default", "--days", "2", "--ope", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    ope = result["ope"]
    assert ope["behaviour"] == "weights" and ope["target"] == "static" and ope["seeds_estimated"] == 0
    # the truth is the static run's F/1K, the number the evaluation shows for it; the policy value is V(π), no draws
    assert ope["true_value"] == pytest.approx(result["f_per_1k"]["static"])
    scenario = load_scenario("default")
    truth = scenario.truth_at(0).generators  # default is stationary: the same on every slot
    target = static_target(scenario)
    assert ope["policy_value"] == pytest.approx(sum(p * truth[g] for g, p in target.generators.items()))
    assert "logged posts with outcomes; off-policy estimates need at least 30" in ope["refused"]
    assert ope["true_value"] > 0

