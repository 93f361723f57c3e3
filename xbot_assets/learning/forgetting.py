"""How fast the learners forget, chosen by the account's own data (issue 14).

An audience changes its taste; a learner that trusts its whole history keeps backing the old winners. Every learner
that keeps a posterior (the content, timing, hook and topic arms: Beta on the success rule; the generator posterior:
Gamma–Poisson on F/1K) can weight each outcome by 0.5 ** (age / half-life). Which half-life is right is a question
the data answers: each candidate half-life predicts, day by day, the outcomes of the last `SCORED_DAYS` days from
the outcomes before that day (prequential, "predict then learn"), and the candidate whose posterior predictive gave
those outcomes the highest log probability is used (the longer memory unless a shorter one wins by MARGIN_NATS).
Where nothing changed, the longest memory predicts best (a short memory is noisier); after a change, the short
memories predict the new days better and win.

The candidate grid and the scoring window are fixed here for every account and scenario (never tuned to one); they
were chosen by `xbot evaluate` across the shipped scenarios (README, "Forgetting"). A half-life is only chosen from
at least `MIN_SCORED` scored outcomes; a younger account forgets nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from xbot_assets.learning.content_arms import as_utc

AUTO = "auto"
# No "never": a change in an arm the policy has stopped playing is invisible to any score of the outcomes, so every
# learner forgets at least at 28 days and the arms it left behind drift back towards their prior and get tried again.
HALF_LIVES: tuple[float | None, ...] = (28.0, 14.0, 7.0)
SCORED_DAYS = 21
MIN_SCORED = 30
# A shorter memory is chosen only when it predicted the scored outcomes better by this much in total (a likelihood
# ratio of e): on a stationary simulated audience the candidates differ by under half a nat, after a change by 3–17.
MARGIN_NATS = 1.0

HalfLife = float | str | None  # a number of days, AUTO, or None (never forget)


@dataclass(frozen=True)
class ForgettingChoice:
    half_life_days: float | None
    scores: dict[str, float]  # candidate → mean log predictive probability of a scored outcome
    scored: int  # outcomes scored
    reason: str


def candidate_name(half_life: float | None) -> str:
    return "never" if half_life is None else f"{half_life:g} days"


def ages_in_days(posted_at: pd.Series, as_of: datetime | pd.Timestamp) -> np.ndarray:
    """Days from each outcome's posted_at to `as_of` (naive times are UTC)."""
    return ((as_utc(pd.Timestamp(as_of)) - as_utc(posted_at)).dt.total_seconds() / 86_400.0).to_numpy(dtype=float)


def _prequential(ages: np.ndarray, half_life: float | None, days: int) -> tuple[np.ndarray, np.ndarray]:
    """The weights of every outcome in the fit made at the start of each scored day (rows: day k = the k-th day
    before `as_of`, covering ages (k, k+1]), and the row each outcome is scored in (-1: not scored)."""
    start = np.arange(1, days + 1, dtype=float)[:, None]  # the fit of row k is made k+1 days before as_of
    before = ages[None, :] - start  # age at the fit's time; > 0: posted before it
    if half_life is None:
        weights = (before > 0).astype(float)
    else:
        weights = np.where(before > 0, 0.5 ** (np.clip(before, 0.0, None) / half_life), 0.0)
    row = np.where((ages > 0) & (ages <= days), np.ceil(ages) - 1, -1).astype(int)
    return weights, row


def _codes(keys: pd.Series) -> tuple[np.ndarray, int]:
    codes, names = pd.factorize(keys.astype(str))
    return codes, len(names)


def beta_log_score(keys: pd.Series, successes: np.ndarray, ages: np.ndarray, half_life: float | None,
                   days: int = SCORED_DAYS, prior: tuple[float, float] = (1.0, 1.0)) -> tuple[float, int]:
    """Sum of log P(outcome) under each arm's Beta posterior predictive fitted on the outcomes before its day, and
    how many outcomes were scored."""
    codes, n_arms = _codes(keys)
    weights, row = _prequential(ages, half_life, days)
    onehot = np.zeros((len(codes), n_arms))
    onehot[np.arange(len(codes)), codes] = 1.0
    y = np.asarray(successes, dtype=float)
    wins, losses = weights @ (onehot * y[:, None]), weights @ (onehot * (1.0 - y)[:, None])
    scored = row >= 0
    k, c, ys = row[scored], codes[scored], y[scored]
    p = (prior[0] + wins[k, c]) / (prior[0] + prior[1] + wins[k, c] + losses[k, c])
    return float(np.sum(ys * np.log(p) + (1.0 - ys) * np.log1p(-p))), int(scored.sum())


def gamma_poisson_log_score(keys: pd.Series, followers: np.ndarray, exposure_k: np.ndarray, ages: np.ndarray,
                            half_life: float | None, days: int = SCORED_DAYS,
                            prior_posts: float = 1.0) -> tuple[float, int]:
    """Sum of log P(followers) under each generator's Gamma posterior predictive (negative binomial over the post's
    impressions/1000), the prior centred as `generator_posterior.generator_posteriors` centres it, fitted on the
    outcomes before each scored day."""
    codes, n_arms = _codes(keys)
    weights, row = _prequential(ages, half_life, days)
    onehot = np.zeros((len(codes), n_arms))
    onehot[np.arange(len(codes)), codes] = 1.0
    y, e = np.asarray(followers, dtype=float), np.asarray(exposure_k, dtype=float)
    gained, shown = weights @ (onehot * y[:, None]), weights @ (onehot * e[:, None])
    counted = (weights > 0).sum(axis=1)
    tried = shown > 0
    rates = np.where(tried, gained / np.where(tried, shown, 1.0), 0.0)
    n_tried = tried.sum(axis=1)
    typical = np.where(n_tried > 0, rates.sum(axis=1) / np.maximum(n_tried, 1), 1.0)  # each tried generator once
    mean_post_k = np.where(counted > 0, shown.sum(axis=1) / np.maximum(counted, 1), 1.0)
    prior_rate = prior_posts * mean_post_k
    prior_shape = np.maximum(typical, 1e-3) * prior_rate
    scored = row >= 0
    k, c, ys, es = row[scored], codes[scored], y[scored], e[scored]
    shape, rate = prior_shape[k] + gained[k, c], prior_rate[k] + shown[k, c]
    from scipy.special import gammaln  # here, not at import: ~0.15–0.4 s of building the definitions

    log_p = (gammaln(ys + shape) - gammaln(shape) - gammaln(ys + 1.0) + shape * np.log(rate / (rate + es))
             + ys * np.log(es / (rate + es)))
    return float(np.sum(log_p)), int(scored.sum())


def choose_half_life(score: Callable[[float | None], tuple[float, int]],
                     candidates: Sequence[float | None] = HALF_LIVES, min_scored: int = MIN_SCORED) -> ForgettingChoice:
    """The candidate whose predictions of the scored days were best, the longer memory (listed first) unless a
    shorter one predicted better by more than MARGIN_NATS."""
    results = {candidate_name(h): score(h) for h in candidates}
    scored = next(iter(results.values()))[1] if results else 0
    if scored < min_scored:
        return ForgettingChoice(None, {}, scored, f"{scored} outcomes in the last {SCORED_DAYS} days, fewer than "
                                                  f"{min_scored} to judge a half-life by: nothing is forgotten")
    totals = {name: total for name, (total, _) in results.items()}
    best_total = max(totals.values())
    # The longest memory within MARGIN_NATS of the best: a shorter memory must earn its noise.
    best = next(h for h in candidates if totals[candidate_name(h)] >= best_total - MARGIN_NATS)
    means = {name: total / scored for name, total in totals.items()}
    return ForgettingChoice(best, means, scored, f"half-life {candidate_name(best)}: it predicted the last "
                                                 f"{SCORED_DAYS} days' {scored} outcomes best")


def resolve_half_life(setting: HalfLife, score: Callable[[float | None], tuple[float, int]]) -> ForgettingChoice:
    """A fixed setting as it is; AUTO chosen by `score`."""
    if setting == AUTO:
        return choose_half_life(score)
    fixed = None if setting is None else float(setting)
    return ForgettingChoice(fixed, {}, 0, f"half-life {candidate_name(fixed)} (set)")
