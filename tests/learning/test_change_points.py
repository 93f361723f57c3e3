"""A step in an arm's follow rate restarts every arm (learning/change_points.py): found where it is, rarely where
there is none, the newest of two, and the generator posteriors forget what came before it."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from xbot_assets.learned.posteriors import PosteriorSettings, follow_rate_half_life, generator_half_life
from xbot_assets.learning.change_points import poisson_step, restart_age, threshold
from xbot_assets.learning.decay import DecaySchedule
from xbot_assets.learning.generator_posterior import generator_posteriors

NOW = datetime(2026, 3, 1)


def _history(rng: np.random.Generator, rates: dict[str, list[tuple[int, float]]], days: int = 40,
             per_day: int = 4) -> pd.DataFrame:
    """Posts spread over the arms in turn; an arm's rate is the last (from_day, rate) whose day has come."""
    arms, rows = list(rates), []
    for day in range(days):
        for k in range(per_day):
            arm = arms[(day * per_day + k) % len(arms)]
            rate = [r for start, r in rates[arm] if day >= start][-1]
            impressions = int(900 * np.exp(0.8 * rng.standard_normal())) + 1
            rows.append([arm, impressions, int(rng.poisson(rate * impressions / 1000)),
                         NOW - timedelta(days=days) + timedelta(days=day, hours=9 + 3 * k)])
    return pd.DataFrame(rows, columns=["generator_name", "impressions", "followers_gained", "posted_at"])


def _age(history: pd.DataFrame) -> float | None:
    ages = (pd.Timestamp(NOW) - history["posted_at"]).dt.total_seconds().to_numpy() / 86_400
    return restart_age(history["generator_name"], history["followers_gained"].to_numpy(float),
                       history["impressions"].to_numpy(float) / 1000, ages)


def test_the_threshold_is_besson_and_kaufmanns():
    assert threshold(100) == pytest.approx(np.log(3 * 100 ** 1.5 / 0.05))
    assert threshold(20) < threshold(100)


def test_the_best_step_splits_where_the_rate_changed():
    counts = np.array([10, 11, 9, 10, 10, 2, 1, 3, 2, 2], dtype=float)
    gain, first_after = poisson_step(counts, np.ones(10))
    assert first_after == 5
    # the gain is the two rates' log likelihood over one rate's
    one = counts.sum() * np.log(counts.mean()) - counts.sum()
    two = 50 * np.log(10) - 50 + 10 * np.log(2) - 10
    assert gain == pytest.approx(two - one)
    assert poisson_step(counts[:7], np.ones(7)) is None or poisson_step(counts[:7], np.ones(7))[1] >= 4
    assert poisson_step(counts[:7], np.ones(7), min_each_side=4) is None


def test_a_fall_in_the_played_arm_is_found_at_its_day_and_a_steady_audience_rarely_restarts():
    found, false_alarms = [], 0
    for seed in range(100):
        changed = _history(np.random.default_rng(seed), {"old_best": [(0, 3.4), (30, 1.0)], "steady": [(0, 2.6)]})
        found.append(_age(changed))
        steady = _history(np.random.default_rng(1000 + seed),
                          {name: [(0, rate)] for name, rate in zip("abcdefghijkl", np.linspace(0.7, 3.4, 12))})
        false_alarms += _age(steady) is not None
    detected = [age for age in found if age is not None]
    assert len(detected) >= 95  # ten days after the change, at two posts a day in the changed arm
    assert np.median(detected) == pytest.approx(10.0, abs=1.0)  # the change was 10 days before NOW
    assert false_alarms <= 5  # twelve arms, 40 days, no change: the 5 % budget per arm is conservative


def test_the_newest_of_two_changes_wins():
    history = _history(np.random.default_rng(7), {"a": [(0, 4.0), (15, 0.5), (45, 4.0)], "b": [(0, 2.0)]}, days=60)
    assert _age(history) == pytest.approx(15.0, abs=1.5)


def test_a_restart_forgets_the_evidence_before_it():
    schedule = DecaySchedule((28.0,) * 5, 28.0, restart_age=3.0)
    weights = schedule.weights(np.array([0.0, 2.9, 3.1, 40.0]))
    assert weights[0] == 1.0 and weights[1] == pytest.approx(0.5 ** (2.9 / 28))
    assert list(weights[2:]) == [0.0, 0.0]


def test_the_generator_posteriors_restart_after_a_change_and_say_so():
    history = _history(np.random.default_rng(11), {"dataNerd": [(0, 3.4), (30, 1.0)], "mythBuster": [(0, 2.6)],
                                                   "storyteller": [(0, 1.6)]})
    history = history[~((history["generator_name"] == "storyteller") & (history["posted_at"] > NOW - timedelta(12)))]
    choice = generator_half_life(history, NOW, PosteriorSettings())
    assert isinstance(choice.decay, DecaySchedule) and choice.decay.restart_age == pytest.approx(10, abs=1.5)
    assert "older evidence forgotten" in choice.reason
    posteriors = generator_posteriors(history, ["dataNerd", "mythBuster", "storyteller"], as_of=NOW,
                                      half_life_days=choice.decay).set_index("generator_name")
    # storyteller was last posted before the change: it is back at the prior, to be tried again
    assert posteriors.loc["storyteller", "impressions"] == 0.0
    assert posteriors.loc["storyteller", "posterior_mean"] == pytest.approx(
        posteriors.loc["storyteller", "prior_shape"] / posteriors.loc["storyteller", "prior_rate"])
    # a half-life the operator set is kept as set: no restart
    assert follow_rate_half_life(28.0, history, "generator_name", NOW).decay == 28.0
    # XBOT_CHANGE_POINTS=0: forgetting alone
    assert follow_rate_half_life("auto", history, "generator_name", NOW, change_points=False).decay.restart_age is None
