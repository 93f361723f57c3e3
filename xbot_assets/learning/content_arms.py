"""Content arms: one Beta posterior per content type, chosen by Thompson sampling.

An outcome is a success when its engagement rate is strictly above `SUCCESS_ER_THRESHOLD` (seed 000, PRODUCT §4).
Posteriors are recomputed from the whole outcome history every time, so recomputing never double-counts (the original
overwrote counts from a 60-row window and hard-coded every post as 'educational'; reference §7.2, §7.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from xbot_assets.learning.decay import Decay, DecaySchedule, decay_weights

SUCCESS_ER_THRESHOLD = 0.03
PRIOR_ALPHA = 1.0
PRIOR_BETA = 1.0
ARM_PREFIX = "content_"

POSTERIOR_COLUMNS = [
    "arm_name",
    "content_type",
    "plays",
    "successes",
    "failures",
    "alpha",
    "beta",
    "mean_reward",
    "posterior_mean",
]


def content_arm_name(content_type: str) -> str:
    return f"{ARM_PREFIX}{content_type}"


# Hooks and topics are arms of the same kind (issue 17): Beta posteriors on the same success rule, Thompson-sampled.
HOOK_ARM_PREFIX = "hook_"
TOPIC_ARM_PREFIX = "topic_"


def beta_arm_posteriors(
    outcomes: pd.DataFrame,
    column: str,
    values: Sequence[str],
    prefix: str,
    *,
    as_of: datetime | None = None,
    half_life_days: Decay = None,
    success_threshold: float = SUCCESS_ER_THRESHOLD,
) -> pd.DataFrame:
    """`content_arm_posteriors` keyed on another column of the outcomes (hook, topic_arm): the columns of
    POSTERIOR_COLUMNS with `arm_value` in place of content_type and arm names `<prefix><value>`."""
    keyed = outcomes.assign(content_type=outcomes[column]) if len(outcomes) else outcomes.assign(
        content_type=pd.Series(dtype=object))
    table = content_arm_posteriors(keyed, values, as_of=as_of, half_life_days=half_life_days,
                                   success_threshold=success_threshold)
    table["arm_name"] = prefix + table["content_type"]
    return table.rename(columns={"content_type": "arm_value"})


def as_utc(values: pd.Series | pd.Timestamp) -> pd.Series | pd.Timestamp:
    """Naive timestamps are read as UTC so that naive and zone-aware inputs can be subtracted safely."""
    if isinstance(values, pd.Series):
        values = pd.to_datetime(values)
        return values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    return values.tz_localize("UTC") if values.tz is None else values.tz_convert("UTC")


def recency_weights(posted_at: pd.Series, as_of: datetime | pd.Timestamp,
                    half_life_days: float | DecaySchedule) -> pd.Series:
    """0.5 ** (age / half-life): an outcome one half-life old counts half as much as one posted at `as_of` (with a
    schedule, the half-lives of the days it has aged through: learning/decay.py).

    Posts dated after `as_of` count fully (age clipped at 0) rather than more than fully.
    """
    if posted_at.isna().any():
        raise ValueError("recency decay needs posted_at on every counted outcome; some are missing")
    age = as_utc(pd.Timestamp(as_of)) - as_utc(posted_at)
    age_days = (age.dt.total_seconds() / 86_400.0).to_numpy(dtype=float)
    return pd.Series(decay_weights(age_days, half_life_days), index=posted_at.index)


def content_arm_posteriors(
    outcomes: pd.DataFrame,
    content_types: Sequence[str],
    *,
    as_of: datetime | None = None,
    half_life_days: Decay = None,
    success_threshold: float = SUCCESS_ER_THRESHOLD,
) -> pd.DataFrame:
    """One Beta posterior per content arm, sorted by arm_name.

    `outcomes` has columns content_type, engagement_rate and posted_at (posted_at is only read when decaying).
    Every type in `content_types` gets a row (unplayed arms keep the Beta(1,1) prior) and so does every type seen in
    the data. Rows without an engagement rate or a content type teach nothing and are not counted.

    With `half_life_days`, successes and failures are recency-weighted (fractional) while `plays` stays the raw count
    and `mean_reward` the plain mean, so the table still says how much evidence there really is. `as_of` defaults to
    the newest posted_at in the data, never to the wall clock, so the result depends on the inputs alone.
    """
    usable = (outcomes["engagement_rate"].notna() & outcomes["content_type"].notna()).to_numpy()
    types = outcomes["content_type"].to_numpy(dtype=object)[usable]
    rates = outcomes["engagement_rate"].to_numpy(dtype=float)[usable]

    if half_life_days is None or not len(rates):
        weight = np.ones(len(rates))
    else:
        posted_at = outcomes["posted_at"][usable]
        reference_time = as_of if as_of is not None else as_utc(posted_at).max()
        weight = recency_weights(posted_at, reference_time, half_life_days).to_numpy(dtype=float)

    is_success = rates > success_threshold  # strict, as in the seed
    # Grouped by pandas (first-seen order), whose compensated sums the learners' numbers have always been; the
    # table around them is built from plain values: this runs per scope and account on every learning run.
    grouped = pd.DataFrame({
        "content_type": types, "successes": np.where(is_success, weight, 0.0),
        "failures": np.where(is_success, 0.0, weight), "mean_reward": rates,
    }).groupby("content_type", sort=False)
    sums = grouped[["successes", "failures"]].sum()
    plays, means = grouped.size(), grouped["mean_reward"].mean()

    all_types = list(dict.fromkeys([*content_types, *sums.index]))
    at = sums.index.get_indexer(all_types)  # -1: unplayed; sums', plays' and means' groups share one order
    names = [str(t) for t in all_types]
    arm_names = [content_arm_name(t) for t in names]
    order = sorted(range(len(names)), key=arm_names.__getitem__)  # by arm name, ties in first-seen order

    def column(values: pd.Series, missing: float) -> np.ndarray:
        return np.append(values.to_numpy(dtype=float), missing)[at][order]

    successes, failures = column(sums["successes"], 0.0), column(sums["failures"], 0.0)
    alpha, beta = PRIOR_ALPHA + successes, PRIOR_BETA + failures
    return pd.DataFrame({
        "arm_name": pd.Series([arm_names[i] for i in order], dtype=str),
        "content_type": pd.Series([names[i] for i in order], dtype=str),
        "plays": column(plays, 0.0).astype(int),
        "successes": successes,
        "failures": failures,
        "alpha": alpha,
        "beta": beta,
        "mean_reward": column(means, np.nan),  # NaN for unplayed arms
        "posterior_mean": alpha / (alpha + beta),
    })


def check_beta_parameters(alpha: np.ndarray, beta: np.ndarray) -> None:
    if not (np.all(alpha > 0) and np.all(beta > 0)):
        raise ValueError("every arm needs alpha > 0 and beta > 0")


def _beta_parameters(posteriors: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    if posteriors.empty:
        raise ValueError("no content arms to choose from")
    alpha = posteriors["alpha"].to_numpy(dtype=float)
    beta = posteriors["beta"].to_numpy(dtype=float)
    check_beta_parameters(alpha, beta)
    return posteriors["arm_name"].astype(str).tolist(), alpha, beta


def thompson_sample(posteriors: pd.DataFrame, rng: np.random.Generator) -> str:
    """Draw once from each arm's Beta(alpha, beta) and return the arm with the largest draw."""
    arms, alpha, beta = _beta_parameters(posteriors)
    draws = rng.beta(alpha, beta)
    return arms[int(np.argmax(draws))]


def thompson_propensities(
    posteriors: pd.DataFrame, rng: np.random.Generator, n_draws: int = 20_000
) -> dict[str, float]:
    """Monte Carlo estimate of the probability that Thompson sampling picks each arm.

    Logged with every decision: it is the propensity off-policy evaluation needs. Arms that never win get 0.0.
    """
    if n_draws < 1:
        raise ValueError(f"n_draws must be at least 1, got {n_draws}")
    arms, alpha, beta = _beta_parameters(posteriors)
    return beta_win_probabilities(arms, alpha, beta, rng, n_draws)


def beta_win_probabilities(names: list[str], alpha: np.ndarray, beta: np.ndarray, rng: np.random.Generator,
                           n_draws: int) -> dict[str, float]:
    """Monte Carlo probability that each Beta(alpha, beta) has the largest draw (the arrays' form of
    thompson_propensities, for the planner's per-candidate choices)."""
    return win_probabilities(names, rng.beta(alpha, beta, size=(n_draws, len(names))))


def win_probabilities(names: list[str], draws: np.ndarray) -> dict[str, float]:
    """Share of the rows of `draws` (n_draws × len(names)) in which each name has the largest draw."""
    wins = np.bincount(np.argmax(draws, axis=1), minlength=len(names))
    return {name: float(count) / len(draws) for name, count in zip(names, wins, strict=True)}
