"""How fast the learners forget, chosen by the account's own data (issue 14).

An audience changes its taste; a learner that trusts its whole history keeps backing the old winners. Every learner
that keeps a posterior (the content, timing, hook and topic arms: Beta on the success rule; the generator posterior:
Gamma–Poisson on F/1K) can weight each outcome by 0.5 ** (age / half-life). Which half-life is right is a question
the data answers: each candidate half-life predicts, day by day, the outcomes of the last `SCORED_DAYS` days from
the outcomes before that day (prequential, "predict then learn"), and the candidate whose posterior predictive gave
those outcomes the highest log probability is used (the longer memory unless a shorter one wins by MARGIN_NATS).
Where nothing changed, the longest memory predicts best (a short memory is noisier); after a change, the short
memories predict the new days better and win.

The choice is made for each of the last `SCHEDULE_DAYS` days as it would have been made that day, and the learner
discounts each day of its history with that day's half-life (learning/decay.py): what a short memory forgot after a
change stays forgotten when the choice goes back to the long memory, instead of every outcome being re-weighted with
today's half-life (which brought a drifted audience's old winner back within days: README, "Forgetting").

The candidate grid and the scoring window are fixed here for every account and scenario (never tuned to one); they
were chosen by `xbot evaluate` across the shipped scenarios (README, "Forgetting"). A half-life is only chosen from
at least `MIN_SCORED` scored outcomes; a younger account forgets nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pandas as pd

from xbot_assets.learning.content_arms import as_utc
from xbot_assets.learning.decay import Decay, DecaySchedule

AUTO = "auto"
# No "never": a change in an arm the policy has stopped playing is invisible to any score of the outcomes, so every
# learner forgets at least at 28 days and the arms it left behind drift back towards their prior and get tried again.
HALF_LIVES: tuple[float | None, ...] = (28.0, 14.0, 7.0)
SCORED_DAYS = 21
MIN_SCORED = 30
# A shorter memory is chosen only when it predicted the scored outcomes better by this much in total (a likelihood
# ratio of e): on a stationary simulated audience the candidates differ by under half a nat, after a change by 3–17.
MARGIN_NATS = 1.0
# The decay schedule remembers the choices of this many days (two of the longest half-life: an outcome older than
# that weighs at most a quarter, and is decayed at the oldest remembered day's half-life).
SCHEDULE_DAYS = 56

HalfLife = float | str | None  # a number of days, AUTO, or None (never forget)


@dataclass(frozen=True)
class ForgettingChoice:
    half_life_days: float | None  # the half-life in force now
    scores: dict[str, float]  # candidate → mean log predictive probability of a scored outcome
    scored: int  # outcomes scored
    reason: str
    # what the learner's posteriors weigh outcomes by: the fixed setting, or (auto) the schedule of the half-lives
    # chosen on each of the last SCHEDULE_DAYS days (learning/decay.py)
    decay: Decay = None


@dataclass(frozen=True)
class DayScores:
    """Log predictive probabilities of the scored outcomes and the day each was scored in (row k: the day ending k
    days before now), over `days` rows."""

    log_p: np.ndarray
    row: np.ndarray
    days: int

    def window(self, first: int, days: int = SCORED_DAYS) -> tuple[float, int]:
        """Total log probability and count of the outcomes in rows first .. first + days − 1: what a choice made
        `first` days ago scored."""
        inside = (self.row >= first) & (self.row < first + days)
        return float(np.sum(self.log_p[inside])), int(inside.sum())


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
                   days: int = SCORED_DAYS, prior: tuple[float, float] = (1.0, 1.0)) -> DayScores:
    """log P(outcome) of every outcome of the last `days` days under its arm's Beta posterior predictive fitted on the
    outcomes before its day, and the day (row) each was scored in."""
    codes, n_arms = _codes(keys)
    weights, row = _prequential(ages, half_life, days)
    onehot = np.zeros((len(codes), n_arms))
    onehot[np.arange(len(codes)), codes] = 1.0
    y = np.asarray(successes, dtype=float)
    wins, losses = weights @ (onehot * y[:, None]), weights @ (onehot * (1.0 - y)[:, None])
    scored = row >= 0
    k, c, ys = row[scored], codes[scored], y[scored]
    p = (prior[0] + wins[k, c]) / (prior[0] + prior[1] + wins[k, c] + losses[k, c])
    return DayScores(ys * np.log(p) + (1.0 - ys) * np.log1p(-p), k, days)


def gamma_poisson_log_score(keys: pd.Series, followers: np.ndarray, exposure_k: np.ndarray, ages: np.ndarray,
                            half_life: float | None, days: int = SCORED_DAYS,
                            prior_posts: float = 1.0) -> DayScores:
    """log P(followers) of every outcome of the last `days` days under its generator's Gamma posterior predictive
    (negative binomial over the post's impressions/1000), the prior centred as
    `generator_posterior.generator_posteriors` centres it, fitted on the outcomes before its day."""
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
    return DayScores(log_p, k, days)


def _choice_on(results: dict[float | None, DayScores], candidates: Sequence[float | None], first: int,
               min_scored: int) -> ForgettingChoice:
    """The choice made `first` days ago: the candidate whose predictions of the SCORED_DAYS before it were best, the
    longer memory (listed first) unless a shorter one predicted better by more than MARGIN_NATS."""
    totals = {h: results[h].window(first) for h in candidates}
    scored = next(iter(totals.values()))[1] if totals else 0
    if scored < min_scored:
        return ForgettingChoice(None, {}, scored, f"{scored} outcomes in the last {SCORED_DAYS} days, fewer than "
                                                  f"{min_scored} to judge a half-life by: nothing is forgotten")
    best_total = max(total for total, _ in totals.values())
    # The longest memory within MARGIN_NATS of the best: a shorter memory must earn its noise.
    best = next(h for h in candidates if totals[h][0] >= best_total - MARGIN_NATS)
    means = {candidate_name(h): total / scored for h, (total, _) in totals.items()}
    return ForgettingChoice(best, means, scored, f"half-life {candidate_name(best)}: it predicted the last "
                                                 f"{SCORED_DAYS} days' {scored} outcomes best")


def choose_half_life(score: Callable[[float | None, int], DayScores],
                     candidates: Sequence[float | None] = HALF_LIVES, min_scored: int = MIN_SCORED,
                     schedule_days: int = SCHEDULE_DAYS) -> ForgettingChoice:
    """Today's choice (`_choice_on`), with the decay schedule of the choices made on each of the last
    `schedule_days` days (days before them keep the oldest one's). `score(half_life, days)` scores the outcomes of
    the last `days` days."""
    results = {h: score(h, schedule_days + SCORED_DAYS - 1) for h in candidates}
    choices = [_choice_on(results, candidates, first, min_scored) for first in range(schedule_days)]
    half_lives = tuple(c.half_life_days for c in choices)
    return replace(choices[0], decay=DecaySchedule(half_lives, older=half_lives[-1]))


def resolve_half_life(setting: HalfLife, score: Callable[[float | None, int], DayScores]) -> ForgettingChoice:
    """A fixed setting as it is; AUTO chosen by `score`."""
    if setting == AUTO:
        return choose_half_life(score)
    fixed = None if setting is None else float(setting)
    return ForgettingChoice(fixed, {}, 0, f"half-life {candidate_name(fixed)} (set)", decay=fixed)
