"""The half-life chosen by the account's data (learning/forgetting.py): the prequential scores are the learners' own
posterior predictives, a stationary audience keeps its memory, a changed one forgets."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy.stats import nbinom

from xbot_assets.learning.content_arms import content_arm_posteriors
from xbot_assets.learning.decay import DecaySchedule, decay_weights
from xbot_assets.learning.forgetting import (
    AUTO,
    HALF_LIVES,
    MIN_SCORED,
    SCHEDULE_DAYS,
    DayScores,
    ages_in_days,
    beta_log_score,
    choose_half_life,
    gamma_poisson_log_score,
    resolve_half_life,
)
from xbot_assets.learning.generator_posterior import generator_posteriors

NOW = datetime(2026, 3, 1)


def _posts(rng: np.random.Generator, days: int, per_day: int = 4) -> pd.DataFrame:
    at = [NOW - timedelta(days=days) + timedelta(days=d, hours=3 + 5 * i) for d in range(days) for i in range(per_day)]
    return pd.DataFrame({"posted_at": at, "arm": rng.choice(["a", "b", "c"], size=len(at))})


@pytest.mark.parametrize("half_life", [None, 7.0])
def test_the_beta_score_is_the_arms_own_posterior_predictive(half_life):
    rng = np.random.default_rng(3)
    posts = _posts(rng, 12)
    posts["engagement_rate"] = rng.uniform(0.0, 0.06, len(posts))
    success = (posts["engagement_rate"] > 0.03).to_numpy(float)
    total, scored = beta_log_score(posts["arm"], success, ages_in_days(posts["posted_at"], NOW), half_life,
                                   days=1).window(0, 1)
    fit_at = NOW - timedelta(days=1)
    train, test = posts[posts["posted_at"] < fit_at], posts[posts["posted_at"] >= fit_at]
    table = content_arm_posteriors(train.assign(content_type=train["arm"]), ["a", "b", "c"], as_of=fit_at,
                                   half_life_days=half_life).set_index("content_type")
    p = table.loc[test["arm"], "posterior_mean"].to_numpy()
    y = (test["engagement_rate"] > 0.03).to_numpy(float)
    assert scored == len(test) == 4
    assert total == pytest.approx(float(np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))), rel=1e-12)


@pytest.mark.parametrize("half_life", [None, 14.0])
def test_the_gamma_score_is_the_generator_posteriors_negative_binomial(half_life):
    rng = np.random.default_rng(5)
    posts = _posts(rng, 15).rename(columns={"arm": "generator_name"})
    posts["impressions"] = rng.integers(300, 3000, len(posts)).astype(float)
    posts["followers_gained"] = rng.poisson(posts["impressions"] / 1000 * 2.5).astype(float)
    total, scored = gamma_poisson_log_score(
        posts["generator_name"], posts["followers_gained"].to_numpy(), posts["impressions"].to_numpy() / 1000,
        ages_in_days(posts["posted_at"], NOW), half_life, days=1).window(0, 1)
    fit_at = NOW - timedelta(days=1)
    train, test = posts[posts["posted_at"] < fit_at], posts[posts["posted_at"] >= fit_at]
    table = generator_posteriors(train, ["a", "b", "c"], as_of=fit_at, half_life_days=half_life).set_index(
        "generator_name")
    shape, rate = table.loc[test["generator_name"], "shape"].to_numpy(), table.loc[test["generator_name"], "rate"]
    exposure = test["impressions"].to_numpy() / 1000
    expected = nbinom.logpmf(test["followers_gained"].to_numpy(), shape, rate.to_numpy() / (rate.to_numpy() + exposure))
    assert scored == 4 and total == pytest.approx(float(expected.sum()), rel=1e-9)


def _choice(rng: np.random.Generator, changed: bool, candidates=HALF_LIVES) -> float | None:
    """60 days of three arms; with `changed`, the best and the worst swap 15 days before now."""
    posts = _posts(rng, 60)
    before = {"a": 0.75, "b": 0.5, "c": 0.25}
    after = {"a": 0.25, "b": 0.5, "c": 0.75} if changed else before
    late = posts["posted_at"] >= NOW - timedelta(days=15)
    p = np.where(late, posts["arm"].map(after), posts["arm"].map(before))
    success = (rng.random(len(posts)) < p).astype(float)
    ages = ages_in_days(posts["posted_at"], NOW)
    return choose_half_life(lambda h, days: beta_log_score(posts["arm"], success, ages, h, days),
                            candidates).half_life_days


@pytest.mark.parametrize("candidates", [HALF_LIVES, (None, *HALF_LIVES)])
def test_a_stationary_audience_keeps_its_memory_and_a_changed_one_forgets(candidates):
    rng = np.random.default_rng(11)
    stationary = [_choice(rng, False, candidates) for _ in range(20)]
    changed = [_choice(rng, True, candidates) for _ in range(20)]
    assert sum(h == candidates[0] for h in stationary) >= 18, stationary  # the longest memory
    assert sum(h is not None and h <= 14 for h in changed) >= 18, changed


def test_too_little_data_forgets_nothing_and_says_why():
    rng = np.random.default_rng(2)
    posts = _posts(rng, 5, per_day=1)  # 5 outcomes, of which at most 5 can be scored
    ages = ages_in_days(posts["posted_at"], NOW)
    choice = choose_half_life(lambda h, days: beta_log_score(posts["arm"], np.ones(len(posts)), ages, h, days))
    assert choice.half_life_days is None and choice.scored < MIN_SCORED and "fewer than" in choice.reason


def _scores(total: float, days: int, n: int = 100, row: int = 0) -> DayScores:
    """`n` outcomes scored on day `row` whose log probabilities sum to `total`."""
    return DayScores(np.full(n, total / n), np.full(n, row), days)


def test_a_fixed_setting_is_used_as_it_is():
    def never_called(half_life, days):
        raise AssertionError("a fixed half-life is not scored")

    assert resolve_half_life(10, never_called).decay == resolve_half_life(10, never_called).half_life_days == 10.0
    assert resolve_half_life(None, never_called).half_life_days is None
    seen = []
    choice = resolve_half_life(AUTO, lambda h, days: (seen.append(h), _scores(-1.0 if h == 28.0 else -2.0, days))[1])
    assert seen == list(HALF_LIVES) and choice.half_life_days == 28.0 and choice.scores["28 days"] == pytest.approx(-0.01)
    # a shorter memory wins only by more than MARGIN_NATS
    assert resolve_half_life(AUTO, lambda h, d: _scores(-10.0 if h == 7.0 else -10.9, d)).half_life_days == 28.0
    assert resolve_half_life(AUTO, lambda h, d: _scores(-10.0 if h == 7.0 else -11.1, d)).half_life_days == 7.0


def test_the_schedule_remembers_each_past_days_choice():
    """The outcomes scored 25–30 days ago favour the 7-day memory: every choice whose 21 scored days held them (made
    5 to 30 days ago) chose 7 days, today's and the older ones 28; an old outcome keeps the discount of those days."""

    def score(half_life, days):
        steady = DayScores(np.full(days * 2, -0.7), np.repeat(np.arange(days), 2), days)  # two outcomes a day
        burst = _scores(-10.0 if half_life == 7.0 else -20.0, days, n=6, row=25)
        return DayScores(np.concatenate([steady.log_p, burst.log_p]), np.concatenate([steady.row, burst.row]), days)

    choice = choose_half_life(score)
    assert isinstance(choice.decay, DecaySchedule) and len(choice.decay.half_lives) == SCHEDULE_DAYS
    assert choice.half_life_days == choice.decay.current == 28.0
    assert choice.decay.half_lives == (28.0,) * 5 + (7.0,) * 21 + (28.0,) * 30 and choice.decay.older == 28.0
    assert choice.decay.weights(np.array([40.0]))[0] == pytest.approx(0.5 ** (5 / 28 + 21 / 7 + 14 / 28))
    assert choice.decay.weights(np.array([40.0]))[0] < 0.5 ** (40 / 28) / 4  # a fixed 28 days would revive it


def test_a_schedule_of_one_half_life_is_that_half_life():
    ages = np.array([-1.0, 0.0, 0.3, 1.0, 6.5, 55.9, 56.0, 90.0])
    assert np.allclose(DecaySchedule((14.0,) * 56, 14.0).weights(ages), decay_weights(ages, 14.0), rtol=1e-12)
    assert np.array_equal(DecaySchedule((None,) * 3, None).weights(ages), np.ones(len(ages)))
    mixed = DecaySchedule((None, 7.0), 28.0).weights(np.array([0.5, 1.5, 2.0, 30.0]))
    assert np.allclose(mixed, [1.0, 0.5 ** (0.5 / 7), 0.5 ** (1 / 7), 0.5 ** (1 / 7 + 28 / 28)])
    with pytest.raises(ValueError, match="positive"):
        DecaySchedule((7.0, 0.0), 28.0)
