"""Generator regret in expected followers against the Poisson Lai–Robbins floor, on hand-made posts and the shipped
scenarios' truths."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from xbot_assets.evaluation.generator_regret import generator_regret, poisson_kl, poisson_lai_robbins_constant
from xbot_assets.simulation import load_scenario


def _posts(rows: list[tuple[int, str, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["day", "generator_name", "true_f_per_1k", "impressions"])


def test_poisson_floor_on_hand_made_rates():
    assert poisson_kl(1.0, 2.0) == pytest.approx(math.log(0.5) + 1.0)
    assert poisson_kl(2.0, 2.0) == 0.0
    assert poisson_lai_robbins_constant({"a": 2.0, "b": 1.0}) == pytest.approx(1.0 / (math.log(0.5) + 1.0))
    assert poisson_lai_robbins_constant({"a": 2.0, "b": 2.0}) == 0.0  # every arm ties


def test_regret_counts_the_followers_lost_on_each_posts_exposure():
    scenario = load_scenario("default")  # dataNerd 3.4 is best, mythBuster 2.6
    rates = scenario.truth_at(0).generators
    posts = _posts([(0, "dataNerd", 3.4, 1000), (1, "mythBuster", 2.6, 1000), (2, "mythBuster", 2.6 * 1.5, 2000)])
    result = generator_regret(scenario, posts, days=3)
    # 0 + 0.8 · 1.0 + 0.8 · (1.5 · 2.0): a topic that multiplies follows by 1.5 makes the lost post count 1.5 times
    assert result["learned"] == pytest.approx(0.8 + 0.8 * 3.0)
    assert result["lai_robbins_bound"] == pytest.approx(math.log(3) * poisson_lai_robbins_constant(rates))
    assert result["share_at_floor"] is None  # three posts: the floor (37 followers) exceeds the oracle's 17
    many = generator_regret(scenario, _posts([(d // 4, "dataNerd", 3.4, 1000) for d in range(240)]), days=60)
    floor = math.log(240) * poisson_lai_robbins_constant(rates)
    assert many["lai_robbins_bound"] == pytest.approx(floor)
    assert many["share_at_floor"] == pytest.approx(1.0 - floor / (3.4 * 240))
    few = generator_regret(scenario, _posts([(0, "dataNerd", 3.4, 900)] * 5), days=3)
    assert few["learned"] == 0.0
    # ln(5) · 33.8 expected followers of floor against 5 · 3.06 the oracle earns: the floor says nothing yet
    assert few["lai_robbins_bound"] > 3.4 * 0.9 * 5 and few["share_at_floor"] is None


def test_each_stationary_stretch_has_its_own_best_and_floor():
    scenario = load_scenario("drift")  # dataNerd best until day 29, storyteller (4.2) from day 30
    before, after = scenario.truth_at(0).generators, scenario.truth_at(30).generators
    posts = _posts([(29, "dataNerd", 3.4, 1000), (29, "storyteller", 1.6, 1000),
                    (30, "dataNerd", 1.0, 1000), (31, "storyteller", 4.2, 1000)])
    result = generator_regret(scenario, posts, days=40)
    assert result["learned"] == pytest.approx((3.4 - 1.6) + (4.2 - 1.0))
    assert result["lai_robbins_bound"] == pytest.approx(
        math.log(2) * (poisson_lai_robbins_constant(before) + poisson_lai_robbins_constant(after)))
    assert generator_regret(scenario, posts.iloc[:0], days=40) == {
        "learned": 0.0, "lai_robbins_bound": 0.0, "share_at_floor": None}
