"""The generator posteriors of `learn.generator_posteriors` (the posterior-sampling generator policy): Gamma
posteriors of every generator's F/1K, recomputed from the account's gated outcomes and replacing the old rows."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from xbot_assets.learned.store import (
    THOMPSON_DRAWS,
    THOMPSON_SEED,
    AccountRunner,
    forget_accounts_that_left,
    half_life_setting,
    mart_accounts,
    run_directly,
)
from xbot_assets.learning.change_points import restart_age
from xbot_assets.learning.decay import DecaySchedule, current_half_life
from xbot_assets.learning.forgetting import (
    AUTO,
    ForgettingChoice,
    HalfLife,
    ages_in_days,
    gamma_poisson_log_score,
    resolve_half_life,
)
from xbot_assets.learning.generator_posterior import generator_posteriors, generator_propensities
from xbot_assets.learning.generator_weights import DEFAULT_WEIGHTS, NOT_GENERATORS
from xbot_assets.settings import env_float, env_int
from xbot_assets.warehouse.connection import Connection, Warehouse
from xbot_assets.warehouse.values import to_python

POSTERIOR_TABLE_COLUMNS = (
    "account_id", "generator_name", "posts", "impressions", "followers_gained", "prior_shape", "prior_rate", "shape",
    "rate", "posterior_mean", "selection_probability", "half_life_days", "forgotten_before", "updated_at",
)


@dataclass(frozen=True)
class PosteriorSettings:
    """XBOT_GENERATOR_HALF_LIFE_DAYS (`auto` by default, as the arms; 0 = never forget) and
    XBOT_GENERATOR_PRIOR_POSTS (1: the prior, centred on the typical tried generator, weighs as much as one average
    post). On hidden_gem, 60 days, mean of 5 seeds, the
    posterior policy's share of the oracle was 0.860 / 0.888 / 0.898 / 0.899 with a prior weight of 0.5 / 1 / 2 / 4
    posts: differences inside the seeds' spread (0.85–0.93), so the conventional one post stays the default.

    XBOT_CHANGE_POINTS (1): with the half-life `auto`, a step in any generator's follow rate restarts every
    generator (`follow_rate_half_life`); 0 turns it off, to measure forgetting alone."""

    half_life_days: HalfLife = AUTO
    prior_posts: float = 1.0
    change_points: bool = True

    @classmethod
    def from_env(cls) -> PosteriorSettings:
        return cls(half_life_days=half_life_setting("XBOT_GENERATOR_HALF_LIFE_DAYS"),
                   prior_posts=env_float("XBOT_GENERATOR_PRIOR_POSTS", 1.0),
                   change_points=env_int("XBOT_CHANGE_POINTS", 1) != 0)


def generator_half_life(outcomes: pd.DataFrame, now: datetime, settings: PosteriorSettings) -> ForgettingChoice:
    """The half-life the posteriors use: the setting, or (auto) the one whose posteriors best predicted the last
    days' follows (learning/forgetting.py)."""
    return follow_rate_half_life(settings.half_life_days, outcomes, "generator_name", now, settings.prior_posts,
                                 change_points=settings.change_points)


def follow_rate_half_life(setting: HalfLife, outcomes: pd.DataFrame, column: str, now: datetime,
                          prior_posts: float = 1.0, *, change_points: bool = True) -> ForgettingChoice:
    """The half-life of Gamma posteriors of F/1K keyed on `column` (generators; topic arms learned on follows). When
    the half-life is chosen by the data (`auto`), a step in any arm's follow rate also restarts every arm: the
    evidence older than the newest step weighs nothing (learning/change_points.py; `decay.restart_age`)."""
    usable = outcomes[pd.to_numeric(outcomes["impressions"], errors="coerce").gt(0)
                      & pd.to_numeric(outcomes["followers_gained"], errors="coerce").notna()
                      & outcomes[column].notna() & outcomes["posted_at"].notna()]

    followers = pd.to_numeric(usable["followers_gained"]).clip(lower=0.0).to_numpy(float)
    exposure_k = pd.to_numeric(usable["impressions"]).to_numpy(float) / 1000.0
    ages = ages_in_days(usable["posted_at"], now)

    def score(half_life, days):
        return gamma_poisson_log_score(usable[column], followers, exposure_k, ages, half_life, days,
                                       prior_posts=prior_posts)

    choice = resolve_half_life(setting, score)
    if not change_points or not isinstance(choice.decay, DecaySchedule):
        return choice  # a half-life the operator set (or XBOT_CHANGE_POINTS=0) is kept as set
    age = restart_age(usable[column], followers, exposure_k, ages)
    if age is None:
        return choice
    return replace(choice, decay=replace(choice.decay, restart_age=age),
                   reason=f"{choice.reason}; the follow rate changed {age:.1f} days ago: older evidence forgotten")


def forgotten_before(decay, now: datetime) -> datetime | None:
    """When the evidence the posteriors still weigh begins after a detected change (None: no change found)."""
    if not isinstance(decay, DecaySchedule) or decay.restart_age is None:
        return None
    return now - timedelta(days=decay.restart_age)


def compute_generator_posteriors(
    conn: Connection, account_id: str, now: datetime, settings: PosteriorSettings
) -> pd.DataFrame:
    """Gamma posteriors of every generator's F/1K from the account's gated outcomes (all history, optional decay);
    imported posts (and posts without a generator) are nobody's evidence."""
    outcomes = conn.fetch_df(
        "select generator_name, impressions, followers_gained, posted_at from analytics.outcomes "
        "where account_id = ? and passes_learning_gate and generator_name is not null "
        f"and generator_name not in ({', '.join('?' for _ in NOT_GENERATORS)}) and posted_at <= ?",
        [account_id, *NOT_GENERATORS, now],
    )
    known = [r[0] for r in conn.fetchall(
        "select generator_name from learn.generator_weights where account_id = ? and status <> 'disabled' "
        "order by generator_name", [account_id])] if conn.table_exists("learn", "generator_weights") else []
    generators = known or list(DEFAULT_WEIGHTS)
    decay = generator_half_life(outcomes, now, settings).decay
    posteriors = generator_posteriors(
        outcomes, generators, as_of=now, half_life_days=decay, prior_posts=settings.prior_posts
    )
    propensities = generator_propensities(posteriors, np.random.default_rng(THOMPSON_SEED), n_draws=THOMPSON_DRAWS)
    posteriors["selection_probability"] = posteriors["generator_name"].map(propensities).astype(float)
    posteriors.insert(0, "account_id", account_id)
    posteriors["half_life_days"] = current_half_life(decay)
    posteriors["forgotten_before"] = forgotten_before(decay, now)
    posteriors["updated_at"] = now
    return posteriors[list(POSTERIOR_TABLE_COLUMNS)]


def learn_generator_posteriors(
    warehouse: Warehouse, now: datetime, settings: PosteriorSettings | None = None,
    run: AccountRunner = run_directly, only: Collection[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Recompute and store every account's generator posteriors (replacing its old ones: a pure function of history),
    one transaction per account through `run`: a failed account keeps its last posteriors."""
    settings = settings or PosteriorSettings.from_env()
    result: dict[str, pd.DataFrame] = {}
    with warehouse.connect() as conn:
        accounts = mart_accounts(conn, "outcomes", only)

    def learn(account_id: str) -> pd.DataFrame:
        with warehouse.connect() as conn:
            frame = compute_generator_posteriors(conn, account_id, now, settings)
            conn.execute("delete from learn.generator_posteriors where account_id = ?", [account_id])
            conn.insert_rows(
                "learn.generator_posteriors", POSTERIOR_TABLE_COLUMNS,
                [[to_python(v) for v in row] for row in frame.itertuples(index=False, name=None)],
            )
        return frame

    for account_id in accounts:
        frame = run(account_id, lambda account_id=account_id: learn(account_id))
        if frame is not None:
            result[account_id] = frame
    with warehouse.connect() as conn:
        forget_accounts_that_left(conn, "learn.generator_posteriors", accounts, only)
    return result
