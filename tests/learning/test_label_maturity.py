"""Development factors: a young post's engagement rate brought to the value it settles at, from settled posts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xbot_assets.learning.label_maturity import MIN_SETTLED_POSTS, development_factors, settled_engagement_rates

# a post's counters at each age, as share of its settled values: engagement arrives faster than impressions
AGES = (2.0, 6.0, 24.0, 168.0)
ENGAGEMENT_SHARE = {2.0: 0.60, 6.0: 0.90, 24.0: 1.0, 168.0: 1.0}
IMPRESSION_SHARE = {2.0: 0.25, 6.0: 0.55, 24.0: 0.85, 168.0: 1.0}


def snapshots(n_posts: int, seed: int = 0, ages=AGES, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for post in range(start, start + n_posts):
        impressions, rate = rng.integers(500, 5000), rng.uniform(0.02, 0.08)
        for age in ages:
            rows.append({"decision_id": f"d{post}", "age_hours": age,
                         "impressions": round(impressions * IMPRESSION_SHARE[age]),
                         "engagements": round(impressions * rate * ENGAGEMENT_SHARE[age])})
    return pd.DataFrame(rows)


def test_factor_is_the_settled_rate_over_the_rate_read_at_that_age():
    frame = snapshots(40)
    factors = development_factors(frame, [2.0, 6.0, 24.0], settled_hours=48.0)
    settled = frame[frame["age_hours"] == 168.0]
    for age, factor in zip((2.0, 6.0, 24.0), factors, strict=True):
        at_age = frame[frame["age_hours"] == age]
        expected = (settled["engagements"].sum() / settled["impressions"].sum()) / (
            at_age["engagements"].sum() / at_age["impressions"].sum())
        assert factor == pytest.approx(expected)
    # the shares above: 0.6 / 0.25 → the rate at 2 hours reads 2.4× its settled value
    assert factors[0] == pytest.approx(0.25 / 0.60, rel=0.02)
    assert factors[2] == pytest.approx(0.85, rel=0.02)


def test_only_settled_posts_count_and_a_factor_needs_enough_of_them():
    settled = snapshots(MIN_SETTLED_POSTS - 1)
    young = snapshots(30, seed=1, ages=(2.0, 6.0), start=100)  # never settled: they say nothing of the factor
    assert np.isnan(development_factors(pd.concat([settled, young]), [6.0], settled_hours=48.0)).all()
    enough = pd.concat([settled, snapshots(1, seed=2, start=200), young])
    assert np.isfinite(development_factors(enough, [6.0], settled_hours=48.0)).all()


def test_an_age_without_a_snapshot_near_it_has_no_factor_and_near_ones_count():
    frame = snapshots(40)
    factors = development_factors(frame, [12.0, 6.5, 5.0], settled_hours=48.0)
    assert np.isnan(factors[0])  # 12 h is more than 1.25× from 6 and 24
    assert factors[1] == pytest.approx(factors[2])  # both read the 6-hour snapshots
    assert np.isnan(development_factors(frame.iloc[:0], [6.0], settled_hours=48.0)).all()


def test_settled_rates_scale_the_young_and_keep_the_settled():
    frame = snapshots(40)
    young = pd.DataFrame({"age_hours": [2.0, 6.0, 72.0, 12.0], "engagement_rate": [0.12, 0.05, 0.04, 0.05]})
    rates = settled_engagement_rates(young, frame, settled_hours=48.0)
    factors = development_factors(frame, [2.0, 6.0], settled_hours=48.0)
    assert rates.tolist()[:3] == pytest.approx([0.12 * factors[0], 0.05 * factors[1], 0.04])
    assert np.isnan(rates.iloc[3])  # no snapshot near 12 hours: the post waits until it is settled
