"""Content arms: Beta posteriors counted by hand, decay, and Thompson sampling with its propensities."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from xbot_assets.learning.content_arms import (
    POSTERIOR_COLUMNS,
    SUCCESS_ER_THRESHOLD,
    content_arm_posteriors,
    thompson_propensities,
    thompson_sample,
)


def outcomes(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["content_type", "engagement_rate", "posted_at"])


def test_posterior_counts_by_hand():
    t = pd.Timestamp("2025-03-01")
    table = content_arm_posteriors(
        outcomes(
            [
                ("educational", 0.05, t),  # success
                ("educational", 0.03, t),  # exactly the threshold: a failure (success is strictly above)
                ("educational", 0.031, t),  # success
                ("educational", 0.01, t),  # failure
                ("educational", None, t),  # no engagement rate: not counted at all
                ("myth_busting", 0.0, t),  # failure, and a type not in the configured list
            ]
        ),
        ["educational", "wellness_tip"],
    )
    assert SUCCESS_ER_THRESHOLD == 0.03
    assert list(table.columns) == POSTERIOR_COLUMNS
    # Sorted by arm name; the configured but unplayed arm is present with the Beta(1,1) prior.
    assert table["arm_name"].tolist() == ["content_educational", "content_myth_busting", "content_wellness_tip"]
    edu, myth, wellness = (row for _, row in table.iterrows())

    assert (edu.plays, edu.successes, edu.failures) == (4, 2.0, 2.0)
    assert (edu.alpha, edu.beta) == (3.0, 3.0)  # 1 + 2 successes, 1 + 2 failures
    assert edu.mean_reward == pytest.approx((0.05 + 0.03 + 0.031 + 0.01) / 4)
    assert edu.posterior_mean == pytest.approx(0.5)

    assert (myth.plays, myth.alpha, myth.beta) == (1, 1.0, 2.0)
    assert myth.posterior_mean == pytest.approx(1 / 3)

    assert (wellness.plays, wellness.alpha, wellness.beta) == (0, 1.0, 1.0)
    assert np.isnan(wellness.mean_reward)


def test_custom_threshold_is_strict():
    table = content_arm_posteriors(outcomes([("a", 0.1, None), ("a", 0.2, None)]), ["a"], success_threshold=0.1)
    assert (table.loc[0, "successes"], table.loc[0, "failures"]) == (1.0, 1.0)


def test_half_life_weights_outcomes_but_keeps_raw_plays():
    as_of = datetime(2025, 3, 10, tzinfo=timezone.utc)
    table = content_arm_posteriors(
        outcomes(
            [
                ("a", 0.08, pd.Timestamp("2025-03-10")),  # age 0 → weight 1 (naive read as UTC)
                ("a", 0.00, pd.Timestamp("2025-03-06")),  # age 4 days = two half-lives → weight 0.25
                ("a", 0.05, pd.Timestamp("2025-03-12")),  # after as_of → age clipped to 0 → weight 1
            ]
        ),
        ["a"],
        as_of=as_of,
        half_life_days=2.0,
    )
    row = table.iloc[0]
    assert row.plays == 3
    assert row.successes == pytest.approx(2.0)
    assert row.failures == pytest.approx(0.25)
    assert (row.alpha, row.beta) == (pytest.approx(3.0), pytest.approx(1.25))


def test_half_life_defaults_as_of_to_newest_post():
    data = outcomes([("a", 0.08, pd.Timestamp("2025-03-10")), ("a", 0.0, pd.Timestamp("2025-03-09"))])
    table = content_arm_posteriors(data, ["a"], half_life_days=1.0)
    assert table.loc[0, "failures"] == pytest.approx(0.5)


def test_no_outcomes_gives_priors():
    table = content_arm_posteriors(outcomes([]), ["b", "a"], half_life_days=3.0)
    assert table["arm_name"].tolist() == ["content_a", "content_b"]
    assert table["alpha"].tolist() == [1.0, 1.0] and table["plays"].tolist() == [0, 0]


@settings(derandomize=True, deadline=None, max_examples=60, database=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.one_of(st.none(), st.floats(0, 1))),
        max_size=40,
    )
)
def test_arm_counts_equal_outcomes_per_type(rows):
    data = outcomes([(t, er, pd.Timestamp("2025-01-01")) for t, er in rows])
    table = content_arm_posteriors(data, ["a"]).set_index("content_type")
    for content_type in ["a", "b", "c"]:
        expected = sum(1 for t, er in rows if t == content_type and er is not None)
        played = table.loc[content_type, "plays"] if content_type in table.index else 0
        assert played == expected
        if content_type in table.index:
            row = table.loc[content_type]
            assert row.successes + row.failures == expected
            assert row.alpha + row.beta == expected + 2


def test_thompson_sample_prefers_a_clearly_better_arm():
    posteriors = pd.DataFrame(
        {"arm_name": ["content_bad", "content_good"], "alpha": [1.0, 500.0], "beta": [500.0, 1.0]}
    )
    rng = np.random.default_rng(7)
    assert {thompson_sample(posteriors, rng) for _ in range(50)} == {"content_good"}


def test_propensities_sum_to_one_and_match_choice_frequency():
    posteriors = pd.DataFrame(
        {"arm_name": ["content_a", "content_b", "content_c"], "alpha": [3.0, 5.0, 2.0], "beta": [4.0, 4.0, 2.0]}
    )
    propensities = thompson_propensities(posteriors, np.random.default_rng(1), n_draws=20_000)
    assert set(propensities) == {"content_a", "content_b", "content_c"}
    assert sum(propensities.values()) == pytest.approx(1.0, abs=1e-12)

    rng = np.random.default_rng(2)
    picks = pd.Series([thompson_sample(posteriors, rng) for _ in range(4_000)]).value_counts(normalize=True)
    for arm, probability in propensities.items():
        assert picks.get(arm, 0.0) == pytest.approx(probability, abs=0.03)


def test_propensities_are_deterministic_with_a_seed():
    posteriors = content_arm_posteriors(outcomes([("a", 0.05, None), ("b", 0.01, None)]), ["a", "b", "c"])
    first = thompson_propensities(posteriors, np.random.default_rng(3), n_draws=2_000)
    second = thompson_propensities(posteriors, np.random.default_rng(3), n_draws=2_000)
    assert first == second


def test_no_arms_is_an_error():
    empty = pd.DataFrame(columns=["arm_name", "alpha", "beta"])
    with pytest.raises(ValueError, match="no content arms"):
        thompson_sample(empty, np.random.default_rng(0))


@settings(derandomize=True, deadline=None, max_examples=60, database=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", None]), st.one_of(st.none(), st.floats(0, 0.2)),
                  st.floats(0, 40)),
        max_size=40,
    ),
    st.sampled_from([None, 2.0, 9.5]),
)
# pandas' grouped sums depend on the groups' order (sorted here: 1.3535533905932737, first-seen: ...274)
@example(rows=[("b", 0.0, 0.0), ("b", 0.125, 0.0), ("b", 0.125, 5.0), ("b", 0.125, 5.0), ("a", 0.0, 0.0)],
         half_life=2.0)
def test_weighted_counts_equal_a_pandas_groupby_of_the_outcomes(rows, half_life):
    """The table is built from plain arrays; its numbers are, to the last bit, pandas' grouped sums of the weights
    in the outcomes' first-seen order (as the learners have always counted)."""
    as_of = pd.Timestamp("2025-02-01", tz="UTC")
    data = outcomes([(t, er, as_of - pd.Timedelta(days=age)) for t, er, age in rows])
    data["posted_at"] = pd.to_datetime(data["posted_at"], utc=True)
    table = content_arm_posteriors(data, ["b"], as_of=as_of, half_life_days=half_life).set_index("content_type")
    usable = data.dropna(subset=["content_type", "engagement_rate"])
    weight = (0.5 ** ((as_of - usable["posted_at"]).dt.total_seconds() / 86_400.0 / half_life)
              if half_life else pd.Series(1.0, index=usable.index))
    success = usable["engagement_rate"] > SUCCESS_ER_THRESHOLD
    grouped = pd.DataFrame({"t": usable["content_type"], "s": weight.where(success, 0.0),
                            "f": weight.where(~success, 0.0), "er": usable["engagement_rate"]}).groupby("t", sort=False)
    expected = grouped.agg(s=("s", "sum"), f=("f", "sum"), er=("er", "mean"), n=("er", "size"))
    assert sorted(table.index) == sorted({"b", *expected.index})
    for content_type, row in table.iterrows():
        if content_type not in expected.index:
            assert (row.plays, row.successes, row.failures, row.alpha) == (0, 0.0, 0.0, 1.0)
            assert np.isnan(row.mean_reward)
            continue
        want = expected.loc[content_type]
        assert (row.plays, row.successes, row.failures) == (want.n, want.s, want.f)
        assert row.mean_reward == want.er and row.alpha == 1.0 + want.s and row.beta == 1.0 + want.f
