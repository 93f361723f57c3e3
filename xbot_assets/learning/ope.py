"""Off-policy evaluation: what a target policy would have earned, estimated from another policy's logged decisions.

Each logged decision i has the logging policy's probability of the action it took (its propensity p_i), the target
policy's probability of that same action (π_i) and a reward r_i. With importance weights w_i = π_i / p_i:

- IPW (inverse propensity weighting): V = (1/n) Σ w_i r_i — unbiased when every action the target can take had a
  positive logging propensity;
- SNIPW (self-normalised IPW): V = Σ w_i r_i / Σ w_i — slightly biased, much less variable when weights are large;
- DR (doubly robust): V = (1/n) Σ [ q̂_π(x_i) + w_i (r_i − q̂(x_i, a_i)) ], where q̂(x, a) is a direct-method
  prediction of the reward of action a in context x and q̂_π(x) = Σ_a π(a|x) q̂(x, a) its expectation under the
  target. Unbiased if the propensities are right, whatever q̂; less variable the better q̂ is.

(The standard forms, as the Open Bandit Pipeline documents them; it is not a dependency.) A ratio value — followers
per 1000 impressions — is the ratio of two estimates of the same kind (followers per post over impressions per
post); for IPW and SNIPW that ratio is the same number (the normaliser cancels), for DR it is not.

Intervals are percentile bootstraps over the logged rows (seeded, so a report can be reproduced), and the effective
sample size (Σ w)² / Σ w² says how many logged posts the estimate is really worth.

Pure: numpy and pandas in, numbers out. Anything the data cannot support raises `OffPolicyRefused` with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_LOGGED_ROWS = 30  # below this a bootstrap interval of an importance-weighted mean means little
# The same floor on the posts the weights leave: an estimate worth fewer than that is a mean of a handful of
# reweighted posts, whatever the row count, and its bootstrap interval is as unreliable as a 10-row sample's.
MIN_EFFECTIVE_POSTS = MIN_LOGGED_ROWS
DEFAULT_BOOTSTRAP = 1000
DEFAULT_LEVEL = 0.9
ESTIMATORS = ("ipw", "snipw", "dr")
_BOOTSTRAP_CHUNK = 250  # resamples drawn at once: bounds memory at chunk × rows indices
_PROPENSITY_TOLERANCE = 1e-9  # a Monte Carlo propensity stored as 1.0000000001 is still 1


class OffPolicyRefused(ValueError):
    """The logged data cannot support the estimate; the message says why (a ValueError: the CLI exits 2 with it)."""


class TooFewEffectivePosts(OffPolicyRefused):
    """The importance weights leave fewer effective posts than the floor; carries the effective sample size."""

    def __init__(self, message: str, effective_sample_size: float):
        super().__init__(message)
        self.effective_sample_size = effective_sample_size


@dataclass(frozen=True)
class Interval:
    value: float
    ci_low: float
    ci_high: float

    def to_json(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass(frozen=True)
class RewardColumn:
    """One reward per logged row and its direct-method parts: q̂ of the logged action and q̂ expected under the
    target. Without a direct method both are zeros and DR reduces to IPW."""

    reward: np.ndarray
    dm_logged: np.ndarray
    dm_target: np.ndarray

    @classmethod
    def of(cls, reward, dm_logged=None, dm_target=None) -> RewardColumn:
        r = np.asarray(reward, dtype=float)
        zeros = np.zeros_like(r)
        column = cls(r, zeros if dm_logged is None else np.asarray(dm_logged, dtype=float),
                     zeros if dm_target is None else np.asarray(dm_target, dtype=float))
        if not (len(column.reward) == len(column.dm_logged) == len(column.dm_target)):
            raise ValueError("reward, dm_logged and dm_target must have one value per logged row")
        for name in ("reward", "dm_logged", "dm_target"):
            if not np.all(np.isfinite(getattr(column, name))):
                raise OffPolicyRefused(f"{name} is missing or not finite on some logged rows")
        return column

    def take(self, index: np.ndarray) -> RewardColumn:
        return RewardColumn(self.reward[index], self.dm_logged[index], self.dm_target[index])


@dataclass(frozen=True)
class PolicyEstimates:
    """The logged policy's observed value and the target's three estimates with their intervals."""

    observed: float
    ipw: Interval
    snipw: Interval
    dr: Interval
    effective_sample_size: float
    rows: int
    level: float
    bootstrap: int

    def to_json(self) -> dict:
        return {"observed": self.observed, "estimates": {n: getattr(self, n).to_json() for n in ESTIMATORS},
                "effective_sample_size": self.effective_sample_size, "rows": self.rows, "level": self.level,
                "bootstrap": self.bootstrap}


# ---------------------------------------------------------------------------------------------------------------------
# Checks: what the data must satisfy before anything is estimated


def checked_propensities(values, name: str) -> np.ndarray:
    """The logging propensities as floats, each in (0, 1]; refuses missing, zero, negative or > 1 values."""
    p = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    missing = int(np.isnan(p).sum())
    if missing:
        raise OffPolicyRefused(f"{missing} of {len(p)} logged posts have no {name}: their probability under the "
                               f"logging policy is unknown, so they cannot be reweighted")
    bad = int(((p <= 0) | (p > 1 + _PROPENSITY_TOLERANCE)).sum())
    if bad:
        raise OffPolicyRefused(f"{bad} of {len(p)} logged posts have a {name} outside (0, 1] (e.g. "
                               f"{p[(p <= 0) | (p > 1 + _PROPENSITY_TOLERANCE)][0]:g}): a zero-propensity action "
                               f"cannot be reweighted")
    return np.minimum(p, 1.0)


def require_rows(n: int, min_rows: int = MIN_LOGGED_ROWS) -> None:
    if n < min_rows:
        raise OffPolicyRefused(f"{n} logged posts with outcomes; off-policy estimates need at least {min_rows}")


def require_effective_posts(weights, min_effective: float = MIN_EFFECTIVE_POSTS, why: str = "") -> float:
    """The effective sample size of `weights`; refuses below `min_effective` (0 turns the floor off). `why` is
    appended to the reason (e.g. which choice concentrates the weights)."""
    ess = effective_sample_size(weights)
    if ess < min_effective:
        raise TooFewEffectivePosts(
            f"the target's importance weights leave an effective sample size of {ess:.1f} of {len(weights)} logged "
            f"posts, below {min_effective:g}: the target's choices were logged on too few posts or with too small "
            f"probabilities, so any estimate would rest on a handful of posts{why}", ess)
    return ess


def require_support(target: Mapping[str, float], logged: Iterable[str], dimension: str) -> None:
    """Refuse when the target gives probability to an action the logs never show: nothing in the data says what it
    would earn, so no reweighting can estimate it."""
    seen = set(logged)
    never = sorted(a for a, p in target.items() if p > 0 and a not in seen)
    if never:
        mass = sum(target[a] for a in never)
        raise OffPolicyRefused(f"the target puts {mass:.1%} of its {dimension} choices on {', '.join(never)}, never "
                               f"chosen in the logged posts")


def checked_distribution(probs: Mapping[str, float], dimension: str) -> dict[str, float]:
    """A target distribution with non-negative probabilities summing to 1 (normalised if off by rounding only)."""
    clean = {str(k): float(v) for k, v in probs.items()}
    if not clean or any(not np.isfinite(v) or v < 0 for v in clean.values()):
        raise OffPolicyRefused(f"the target's {dimension} probabilities must be non-negative numbers")
    total = sum(clean.values())
    if abs(total - 1.0) > 1e-3:
        raise OffPolicyRefused(f"the target's {dimension} probabilities sum to {total:.4f}, not 1")
    return {k: v / total for k, v in clean.items()}


# ---------------------------------------------------------------------------------------------------------------------
# The estimators


def importance_weights(target_probability, logging_propensity) -> np.ndarray:
    """w_i = π(a_i | x_i) / p(a_i | x_i); refuses when the target gives no logged action any probability."""
    pi = np.asarray(target_probability, dtype=float)
    p = np.asarray(logging_propensity, dtype=float)
    if np.any(~np.isfinite(pi)) or np.any(pi < 0):
        raise OffPolicyRefused("the target's probability of some logged action is missing or negative")
    w = pi / p
    if len(w) and not np.any(w > 0):
        raise OffPolicyRefused("the target gives probability 0 to every logged action: nothing to reweight")
    return w


def effective_sample_size(weights) -> float:
    """(Σ w)² / Σ w²: n when every weight is equal, 1 when one row carries all of it."""
    w = np.asarray(weights, dtype=float)
    squares = float(np.sum(w**2))
    return float(np.sum(w)) ** 2 / squares if squares > 0 else 0.0


def ipw(weights, rewards) -> float:
    return float(np.mean(np.asarray(weights) * np.asarray(rewards)))


def snipw(weights, rewards) -> float:
    w = np.asarray(weights, dtype=float)
    return float(np.sum(w * np.asarray(rewards)) / np.sum(w))


def doubly_robust(weights, rewards, dm_logged, dm_target) -> float:
    w, r = np.asarray(weights, dtype=float), np.asarray(rewards, dtype=float)
    return float(np.mean(np.asarray(dm_target) + w * (r - np.asarray(dm_logged))))


def _estimates_batch(w: np.ndarray, column: RewardColumn) -> np.ndarray:
    """IPW, SNIPW and DR numerators for a batch of resamples: arrays (B, n) in, (3, B) out."""
    wr = w * column.reward
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([wr.mean(axis=-1), wr.sum(axis=-1) / w.sum(axis=-1),
                         (column.dm_target + w * (column.reward - column.dm_logged)).mean(axis=-1)])


def _values(w: np.ndarray, numerator: RewardColumn, denominator: RewardColumn | None, scale: float) -> np.ndarray:
    top = _estimates_batch(w, numerator)
    if denominator is None:
        return scale * top
    bottom = _estimates_batch(w, denominator)
    with np.errstate(invalid="ignore", divide="ignore"):
        return scale * top / bottom


def estimate_policy_value(
    weights,
    numerator: RewardColumn,
    denominator: RewardColumn | None = None,
    *,
    scale: float = 1.0,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    min_rows: int = MIN_LOGGED_ROWS,
) -> PolicyEstimates:
    """The target's value by IPW, SNIPW and DR, with percentile bootstrap intervals at `level`.

    With `denominator` the value is a ratio — scale × estimate(numerator) / estimate(denominator), each estimated the
    same way (e.g. followers and impressions per post, scale 1000 for F/1K). `observed` is the logged policy's own
    value on the same rows (Σ numerator / Σ denominator for a ratio)."""
    w = np.asarray(weights, dtype=float)
    require_rows(len(w), min_rows)
    if len(numerator.reward) != len(w) or (denominator is not None and len(denominator.reward) != len(w)):
        raise ValueError("weights and rewards must have one value per logged row")
    if bootstrap < 1:
        raise ValueError(f"bootstrap must be at least 1, got {bootstrap}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    if denominator is not None and np.sum(denominator.reward) <= 0:
        raise OffPolicyRefused("the logged posts have no impressions: a per-impression rate is undefined")
    point = _values(w[None, :], numerator, denominator, scale)[:, 0]

    rng = np.random.default_rng(seed)
    draws = []
    for start in range(0, bootstrap, _BOOTSTRAP_CHUNK):
        index = rng.integers(0, len(w), size=(min(_BOOTSTRAP_CHUNK, bootstrap - start), len(w)))
        draws.append(_values(w[index], numerator.take(index),
                             None if denominator is None else denominator.take(index), scale))
    resampled = np.concatenate(draws, axis=1)
    tail = (1.0 - level) / 2.0
    # A resample without any positive weight has no SNIPW value; it is left out of that estimator's interval.
    low = np.nanquantile(resampled, tail, axis=1)
    high = np.nanquantile(resampled, 1.0 - tail, axis=1)
    intervals = {name: Interval(float(point[i]), float(low[i]), float(high[i])) for i, name in enumerate(ESTIMATORS)}
    if denominator is None:
        observed = scale * float(np.mean(numerator.reward))
    else:
        observed = scale * float(np.sum(numerator.reward) / np.sum(denominator.reward))
    return PolicyEstimates(observed=observed, **intervals, effective_sample_size=effective_sample_size(w),
                           rows=len(w), level=level, bootstrap=bootstrap)


# ---------------------------------------------------------------------------------------------------------------------
# The direct method without a model: per-action empirical means


@dataclass(frozen=True)
class AdditiveActionMeans:
    """q̂(a) = overall mean + Σ over the action's dimensions of that value's shrunk offset from the mean.

    An action is a combination (content type × generator); most combinations have a handful of posts, so each
    dimension's mean is estimated on its own and shrunk towards the overall mean with the weight of `prior_rows`
    rows (an unseen value gets the overall mean).

    A sum of offsets can leave the range the reward took: a rare topic with a rare hook, each below the mean, went
    to negative followers in the topic_hook evaluation and pulled DR 45 % under the truth. q̂ is held to the logged
    values' [lowest, highest], a range no action's true mean can leave."""

    overall: float
    offsets: dict[str, dict[str, float]]
    lowest: float = -np.inf
    highest: float = np.inf

    @classmethod
    def fit(cls, actions: pd.DataFrame, values, prior_rows: float = 1.0) -> AdditiveActionMeans:
        y = pd.Series(np.asarray(values, dtype=float), index=actions.index)
        overall = float(y.mean())
        offsets = {}
        for dimension in actions.columns:
            grouped = (y - overall).groupby(actions[dimension].astype(str)).agg(["sum", "count"])
            offsets[dimension] = (grouped["sum"] / (grouped["count"] + prior_rows)).to_dict()
        return cls(overall, offsets, float(y.min()), float(y.max()))

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """q̂ of each row's action (the frame's columns of the fitted dimensions)."""
        total = np.full(len(frame), self.overall)
        for dimension, offsets in self.offsets.items():
            total += frame[dimension].astype(str).map(offsets).fillna(0.0).to_numpy(dtype=float)
        return np.clip(total, self.lowest, self.highest)

    def predict(self, **action: str) -> float:
        return float(self.predict_frame(pd.DataFrame([action]))[0])
