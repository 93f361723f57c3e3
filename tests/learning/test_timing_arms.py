"""Timing arms: per-hour statistics, UCB1 indices computed by hand, choices and their propensities."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from xbot_assets.learning.timing_arms import timing_arm_stats, ucb1_choice, ucb1_indices


def tiny_table() -> pd.DataFrame:
    # Hour 1 played twice (rewards .10 and .20), hour 2 once (.30); a row without a reward is skipped.
    return timing_arm_stats(
        pd.DataFrame({"posted_hour": [1, 1, 2, 5], "engagement_rate": [0.10, 0.20, 0.30, None]})
    )


def test_stats_have_24_hours():
    stats = tiny_table()
    assert stats["hour"].tolist() == list(range(24))
    assert stats["arm_name"].tolist()[:3] == ["timing_0", "timing_1", "timing_2"]
    assert stats.loc[1, ["plays", "total_reward", "mean_reward"]].tolist() == pytest.approx([2, 0.30, 0.15])
    assert stats.loc[2, ["plays", "total_reward", "mean_reward"]].tolist() == pytest.approx([1, 0.30, 0.30])
    assert stats.loc[5, "plays"] == 0 and np.isnan(stats.loc[5, "mean_reward"])
    assert stats["plays"].sum() == 3


def test_ucb1_indices_by_hand():
    indices = ucb1_indices(tiny_table(), c=1.0)
    # N = 3 plays in total; ln 3 = 1.0986123.
    # hour 1: 0.15 + sqrt(2·ln3 / 2) = 0.15 + 1.0481471 = 1.1981471
    # hour 2: 0.30 + sqrt(2·ln3 / 1) = 0.30 + 1.4823038 = 1.7823038
    assert indices[1] == pytest.approx(1.1981471, abs=1e-7)
    assert indices[2] == pytest.approx(1.7823038, abs=1e-7)
    assert math.isinf(indices[0]) and math.isinf(indices[23])
    # c scales only the exploration bonus: c = 0.5 gives 0.30 + 0.7411519.
    assert ucb1_indices(tiny_table(), c=0.5)[2] == pytest.approx(1.0411519, abs=1e-7)


def test_unplayed_hours_are_tried_first():
    hour, propensity = ucb1_choice(tiny_table(), rng=np.random.default_rng(0))
    assert hour not in (1, 2)
    assert propensity == pytest.approx(1 / 22)  # 22 unplayed hours tie at +inf


def test_allowed_hours_restrict_the_choice_and_deterministic_choice_has_propensity_one():
    assert ucb1_choice(tiny_table(), allowed_hours=[1, 2]) == (2, 1.0)
    assert ucb1_choice(tiny_table(), allowed_hours=[1]) == (1, 1.0)


def test_ties_are_broken_uniformly():
    stats = timing_arm_stats(pd.DataFrame({"posted_hour": list(range(24)), "engagement_rate": [0.02] * 24}))
    rng = np.random.default_rng(11)
    picks = [ucb1_choice(stats, rng=rng) for _ in range(2_400)]
    assert {propensity for _, propensity in picks} == {1 / 24}
    counts = pd.Series([hour for hour, _ in picks]).value_counts()
    assert len(counts) == 24 and counts.min() > 60 and counts.max() < 140  # ≈100 each


def test_greedy_with_no_exploration_bonus():
    stats = timing_arm_stats(pd.DataFrame({"posted_hour": [3, 4], "engagement_rate": [0.01, 0.05]}))
    assert ucb1_choice(stats, c=0.0, allowed_hours=[3, 4]) == (4, 1.0)


def test_invalid_hours_are_rejected():
    with pytest.raises(ValueError, match="0–23"):
        timing_arm_stats(pd.DataFrame({"posted_hour": [24], "engagement_rate": [0.1]}))
    with pytest.raises(ValueError, match="allowed_hours"):
        ucb1_choice(tiny_table(), allowed_hours=[30])
    with pytest.raises(ValueError, match="no hours"):
        ucb1_choice(tiny_table(), allowed_hours=[])


def test_no_outcomes_gives_24_unplayed_arms():
    stats = timing_arm_stats(pd.DataFrame({"posted_hour": [], "engagement_rate": []}))
    assert len(stats) == 24 and stats["plays"].sum() == 0
    assert np.isinf(ucb1_indices(stats)).all()
