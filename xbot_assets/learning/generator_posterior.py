"""The posterior-sampling generator policy: Gamma–Poisson Thompson sampling on followers per 1000 impressions (the
same posterior, keyed on the topic, is the topic arms' under XBOT_TOPIC_REWARD=f_per_1k: `follow_rate_posteriors`).

Each generator's follow rate λ (followers per 1000 impressions) gets a Gamma(shape, rate) posterior: a post with
I impressions and F attributed followers is F ~ Poisson(λ · I / 1000), so the conjugate update adds F to the shape
and I / 1000 to the rate. The prior is centred on the typical generator of the account — the mean of the tried
generators' F/1K, each generator counted once — with the weight of `prior_posts` average posts (empirical Bayes),
so an untried generator starts as "typical for this account", not as zero and not as a wild guess. (Centring on the
pooled F/1K instead lets the generator that gets most posts pull every other prior towards itself: on hidden_gem
that kept the weak generators competitive with the best one for weeks.) Planning draws λ from every posterior and
uses the largest draw; the propensity logged with the decision is the Monte Carlo probability of that generator
winning.

This is the alternative to the seed's weight optimizer (seed 004), chosen per account (act.accounts.generator_policy
= 'posterior'; `xbot demo --generator-policy posterior`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from xbot_assets.learning.content_arms import recency_weights, win_probabilities
from xbot_assets.learning.decay import Decay
from xbot_assets.learning.generator_weights import NOT_GENERATORS

POSTERIOR_COLUMNS = [
    "generator_name", "posts", "impressions", "followers_gained", "prior_shape", "prior_rate", "shape", "rate",
    "posterior_mean",
]


def generator_posteriors(
    outcomes: pd.DataFrame,
    generators: Sequence[str],
    *,
    as_of: datetime | None = None,
    half_life_days: Decay = None,
    prior_posts: float = 1.0,
) -> pd.DataFrame:
    """One row per generator in `generators` (plus any generator in the outcomes).

    `outcomes` has columns generator_name, impressions, followers_gained and (for decay) posted_at; rows with
    missing or non-positive impressions teach nothing, nor do posts of no pickable generator (NOT_GENERATORS:
    imported from the account's history, or without a generator). With `half_life_days`, each post's evidence is
    weighted by 0.5 ** (age / half_life) so the posterior can follow drift.
    """
    return follow_rate_posteriors(outcomes, "generator_name", generators, as_of=as_of, half_life_days=half_life_days,
                                  prior_posts=prior_posts, excluded=NOT_GENERATORS)


def follow_rate_posteriors(
    outcomes: pd.DataFrame,
    column: str,
    values: Sequence[str],
    *,
    as_of: datetime | None = None,
    half_life_days: Decay = None,
    prior_posts: float = 1.0,
    excluded: Sequence[str] = (),
) -> pd.DataFrame:
    """The Gamma posteriors of F/1K keyed on any column of the outcomes (generator_name; topic_arm for topic arms
    learned on follows): POSTERIOR_COLUMNS with `column` in place of generator_name, one row per value in `values`
    plus any value in the outcomes, none for `excluded` values (they teach nothing either)."""
    if prior_posts <= 0:
        raise ValueError(f"prior_posts must be positive, got {prior_posts}")
    usable = outcomes.loc[
        outcomes[column].notna()
        & ~outcomes[column].astype(str).isin(list(excluded))
        & pd.to_numeric(outcomes["impressions"], errors="coerce").gt(0)
        & pd.to_numeric(outcomes["followers_gained"], errors="coerce").notna()
    ].copy()
    impressions = pd.to_numeric(usable["impressions"]).astype(float)
    followers = pd.to_numeric(usable["followers_gained"]).astype(float).clip(lower=0.0)
    if half_life_days is not None and len(usable):
        if as_of is None:
            raise ValueError("half_life_days needs as_of")
        weight = recency_weights(usable["posted_at"], as_of, half_life_days).to_numpy(dtype=float)
    else:
        weight = np.ones(len(usable))
    usable["w_impressions_k"] = impressions.to_numpy() * weight / 1000.0
    usable["w_followers"] = followers.to_numpy() * weight

    grouped = usable.groupby(column).agg(
        posts=(column, "size"), impressions=("w_impressions_k", "sum"), followers_gained=("w_followers", "sum")
    )
    # Empirical-Bayes prior: the typical tried value's rate, with the weight of `prior_posts` average posts.
    tried = grouped[grouped["impressions"] > 0]
    typical = float((tried["followers_gained"] / tried["impressions"]).mean()) if len(tried) else 1.0
    total_k = float(usable["w_impressions_k"].sum())
    mean_post_k = total_k / len(usable) if len(usable) else 1.0
    prior_rate = prior_posts * mean_post_k
    prior_shape = max(typical, 1e-3) * prior_rate

    names = [n for n in dict.fromkeys([*values, *sorted(usable[column].astype(str).unique())])
             if n not in excluded]
    rows = []
    for name in names:
        posts = int(grouped["posts"].get(name, 0))
        imps_k = float(grouped["impressions"].get(name, 0.0))
        gained = float(grouped["followers_gained"].get(name, 0.0))
        shape, rate = prior_shape + gained, prior_rate + imps_k
        rows.append([name, posts, imps_k * 1000.0, gained, prior_shape, prior_rate, shape, rate, shape / rate])
    return pd.DataFrame(rows, columns=[column, *POSTERIOR_COLUMNS[1:]])


def _parameters(posteriors: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    if posteriors.empty:
        raise ValueError("no generators to choose from")
    shape = posteriors["shape"].to_numpy(dtype=float)
    rate = posteriors["rate"].to_numpy(dtype=float)
    if not (np.all(shape > 0) and np.all(rate > 0)):
        raise ValueError("every generator needs shape > 0 and rate > 0")
    return posteriors["generator_name"].astype(str).tolist(), shape, rate


def sample_generator(posteriors: pd.DataFrame, rng: np.random.Generator) -> str:
    """One Thompson draw: λ from every Gamma posterior, the generator with the largest λ."""
    names, shape, rate = _parameters(posteriors)
    return names[int(np.argmax(rng.gamma(shape, 1.0 / rate)))]


def generator_propensities(posteriors: pd.DataFrame, rng: np.random.Generator, n_draws: int = 20_000) -> dict[str, float]:
    """Monte Carlo probability that each generator has the largest draw (the policy's selection probability)."""
    if n_draws < 1:
        raise ValueError(f"n_draws must be at least 1, got {n_draws}")
    names, shape, rate = _parameters(posteriors)
    return gamma_win_probabilities(names, shape, rate, rng, n_draws)


def gamma_win_probabilities(names: list[str], shape: np.ndarray, rate: np.ndarray, rng: np.random.Generator,
                            n_draws: int) -> dict[str, float]:
    """Monte Carlo probability that each Gamma(shape, rate) has the largest draw: Thompson sampling's propensity
    over follow-rate posteriors (generators, topic arms learned on follows)."""
    return win_probabilities(names, rng.gamma(shape, 1.0 / rate, size=(n_draws, len(names))))
