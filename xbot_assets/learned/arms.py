"""The bandit arms of `learn.bandit_arms`: content, hook and topic arms (Beta posteriors, Thompson propensities) and
timing arms (UCB1 over the 24 local hours), recomputed from the whole outcome history and replacing the account's
rows."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import numpy as np
import pandas as pd

from xbot_assets.learned.posteriors import PosteriorSettings, follow_rate_half_life
from xbot_assets.learned.store import (
    THOMPSON_DRAWS,
    THOMPSON_SEED,
    TOPIC_REWARD_F_PER_1K,
    TOPIC_REWARD_SUCCESS,
    AccountRunner,
    LearningSettings,
    forget_accounts_that_left,
    mart_accounts,
    run_directly,
)
from xbot_assets.learning.content_arms import (
    HOOK_ARM_PREFIX,
    SUCCESS_ER_THRESHOLD,
    TOPIC_ARM_PREFIX,
    beta_arm_posteriors,
    content_arm_posteriors,
    thompson_propensities,
)
from xbot_assets.learning.decay import Decay, current_half_life
from xbot_assets.learning.forgetting import HalfLife, ages_in_days, beta_log_score, resolve_half_life
from xbot_assets.learning.generator_posterior import follow_rate_posteriors, gamma_win_probabilities
from xbot_assets.learning.timing_arms import reward_scale, timing_arm_stats, ucb1_indices
from xbot_assets.warehouse.connection import Connection, Warehouse
from xbot_assets.warehouse.values import to_python

# Bandit arms

ARM_COLUMNS = (
    "account_id", "arm_name", "scope", "arm_value", "plays", "successes", "failures", "alpha", "beta", "mean_reward",
    "total_reward", "posterior_mean", "ucb_index", "selection_probability", "half_life_days", "last_posted_at",
    "updated_at", "reward", "prior_alpha", "prior_beta",
)


def _rewarded_outcomes(conn: Connection, account_id: str) -> pd.DataFrame:
    """The outcomes that teach the arms: past the learning gate with a known engagement rate (as arm_performance)."""
    frame = conn.fetch_df(
        "select decision_id, content_type, hook, topic_arm, topic_source, posted_hour, posted_at, engagement_rate, "
        "impressions, followers_gained "
        "from analytics.outcomes "
        "where account_id = ? and passes_learning_gate and engagement_rate is not null order by posted_at, decision_id",
        [account_id],
    )
    frame["engagement_rate"] = frame["engagement_rate"].astype(float)  # posted_at is datetime64 (warehouse.values)
    return frame


def compute_bandit_arms(
    conn: Connection, account_id: str, now: datetime, settings: LearningSettings
) -> pd.DataFrame:
    """One row per content arm (every content type the account ever posted) and per timing arm (24 hours)."""
    outcomes = _rewarded_outcomes(conn, account_id)
    content_types = [
        r[0]
        for r in conn.fetchall(
            "select distinct content_type from analytics.outcomes where account_id = ? and content_type is not null "
            "order by content_type",
            [account_id],
        )
    ]
    half_lives = {"content": arm_half_life(settings.arm_half_life_days, outcomes, "content_type", now)}
    content = content_arm_posteriors(outcomes, content_types, as_of=now, half_life_days=half_lives["content"])
    propensities = (
        thompson_propensities(content, np.random.default_rng(THOMPSON_SEED), n_draws=THOMPSON_DRAWS)
        if not content.empty
        else {}
    )
    last_content = outcomes.dropna(subset=["content_type"]).groupby("content_type")["posted_at"].max()
    totals = outcomes.dropna(subset=["content_type"]).groupby("content_type")["engagement_rate"].sum()
    content_rows = pd.DataFrame(
        {
            "arm_name": content["arm_name"],
            "scope": "content",
            "arm_value": content["content_type"],
            "plays": content["plays"],
            "successes": content["successes"],
            "failures": content["failures"],
            "alpha": content["alpha"],
            "beta": content["beta"],
            "mean_reward": content["mean_reward"],
            "total_reward": content["content_type"].map(totals).fillna(0.0).astype(float),
            "posterior_mean": content["posterior_mean"],
            "ucb_index": np.nan,
            "selection_probability": content["arm_name"].map(propensities).astype(float),
            # a list, not Series.map: mapping through an empty datetime Series raises in pandas (no content types yet)
            "last_posted_at": [last_content.get(t) for t in content["content_type"]],
        }
    )

    timed = outcomes.dropna(subset=["posted_hour"]).copy()
    stats = timing_arm_stats(timed)
    indices = ucb1_indices(stats, settings.ucb_c, reward_scale(timed["engagement_rate"]))
    # Success counts per hour use the content arms' Beta bookkeeping (success = engagement rate > threshold), so the
    # table has one meaning of successes/failures/alpha/beta for both scopes; UCB1 itself reads plays and mean reward.
    timed["hour_key"] = timed["posted_hour"].astype(int).astype(str)
    hours = [str(h) for h in stats["hour"]]
    half_lives["timing"] = arm_half_life(settings.arm_half_life_days, timed, "hour_key", now)
    beta_counts = content_arm_posteriors(
        timed.assign(content_type=timed["hour_key"]), hours, as_of=now, half_life_days=half_lives["timing"]
    ).set_index("content_type")
    values = indices.to_numpy(dtype=float)
    best = values.max()
    tied = np.isinf(values) if np.isinf(best) else np.isclose(values, best, rtol=1e-12, atol=1e-15)
    last_hour = timed.groupby("hour_key")["posted_at"].max()
    timing_rows = pd.DataFrame(
        {
            "arm_name": stats["arm_name"],
            "scope": "timing",
            "arm_value": hours,
            "plays": stats["plays"],
            "successes": [beta_counts.loc[h, "successes"] for h in hours],
            "failures": [beta_counts.loc[h, "failures"] for h in hours],
            "alpha": [beta_counts.loc[h, "alpha"] for h in hours],
            "beta": [beta_counts.loc[h, "beta"] for h in hours],
            "mean_reward": stats["mean_reward"],
            "total_reward": stats["total_reward"],
            "posterior_mean": [beta_counts.loc[h, "posterior_mean"] for h in hours],
            "ucb_index": np.where(np.isinf(values), np.nan, values),  # unplayed (+inf, tried first) is stored as null
            "selection_probability": np.where(tied, 1.0 / tied.sum(), 0.0),
            "last_posted_at": [last_hour.get(h) for h in hours],
        }
    )
    beta_rows = [row.assign(reward=TOPIC_REWARD_SUCCESS, prior_alpha=1.0, prior_beta=1.0)
                 for row in (content_rows, timing_rows)]
    arms = pd.concat([*beta_rows, *_hook_and_topic_rows(conn, account_id, outcomes, now, settings, half_lives)],
                     ignore_index=True)
    arms.insert(0, "account_id", account_id)
    # each scope forgets at its own rate; the table shows the half-life in force now
    arms["half_life_days"] = arms["scope"].map({k: current_half_life(v) for k, v in half_lives.items()}).astype(float)
    arms["updated_at"] = now
    return arms[list(ARM_COLUMNS)]


def _beta_rows(posteriors: pd.DataFrame, scope: str, outcomes: pd.DataFrame, column: str) -> pd.DataFrame:
    """learn.bandit_arms rows of Beta arms (hook, topic) with their Thompson propensities, as the content arms'."""
    propensities = thompson_propensities(posteriors, np.random.default_rng(THOMPSON_SEED), n_draws=THOMPSON_DRAWS)
    played = outcomes.dropna(subset=[column])
    last, totals = played.groupby(column)["posted_at"].max(), played.groupby(column)["engagement_rate"].sum()
    return pd.DataFrame({
        "arm_name": posteriors["arm_name"], "scope": scope, "arm_value": posteriors["arm_value"],
        "plays": posteriors["plays"], "successes": posteriors["successes"], "failures": posteriors["failures"],
        "alpha": posteriors["alpha"], "beta": posteriors["beta"], "mean_reward": posteriors["mean_reward"],
        "total_reward": [float(totals.get(v, 0.0)) for v in posteriors["arm_value"]],
        "posterior_mean": posteriors["posterior_mean"], "ucb_index": np.nan,
        "selection_probability": posteriors["arm_name"].map(propensities).astype(float),
        "last_posted_at": [last.get(v) for v in posteriors["arm_value"]],
    })


def arm_half_life(setting: HalfLife, outcomes: pd.DataFrame, column: str, now: datetime) -> Decay:
    """How one scope's arms forget: the setting, or (auto) the schedule of the half-lives whose Beta posteriors best
    predicted each day's last days' successes (learning/forgetting.py)."""
    usable = outcomes.dropna(subset=[column, "posted_at"])
    # read once for every candidate half-life
    successes = (usable["engagement_rate"] > SUCCESS_ER_THRESHOLD).to_numpy(float)
    ages = ages_in_days(usable["posted_at"], now) if len(usable) else np.zeros(0)

    def score(half_life, days):
        return beta_log_score(usable[column], successes, ages, half_life, days)

    return resolve_half_life(setting, score).decay


def _hook_and_topic_rows(conn: Connection, account_id: str, outcomes: pd.DataFrame, now: datetime,
                         settings: LearningSettings, half_lives: dict[str, Decay]) -> list[pd.DataFrame]:
    """Hook arms (every hook the account's posts carry) and topic arms (every topic the planner chose from the
    bandit). Trending posts teach no topic arm: their topic was not the bandit's choice, so they are judged apart
    (learn/strategy compares them with the bandit's posts)."""
    rows = []
    for scope, column, prefix, where in (
        ("hook", "hook", HOOK_ARM_PREFIX, "hook is not null"),
        ("topic", "topic_arm", TOPIC_ARM_PREFIX, "topic_arm is not null and coalesce(topic_source, '') <> 'trending'"),
    ):
        values = [r[0] for r in conn.fetchall(
            f"select distinct {column} from analytics.outcomes where account_id = ? and {where} order by 1",
            [account_id])]
        taught = outcomes if scope == "hook" else outcomes[outcomes["topic_source"].fillna("") != "trending"]
        on_follows = scope == "topic" and settings.topic_reward == TOPIC_REWARD_F_PER_1K
        half_lives[scope] = (follow_rate_half_life(settings.arm_half_life_days, taught, column, now,
                                                   change_points=PosteriorSettings.from_env().change_points).decay
                             if on_follows else arm_half_life(settings.arm_half_life_days, taught, column, now))
        posteriors = beta_arm_posteriors(taught, column, values, prefix, as_of=now, half_life_days=half_lives[scope])
        if posteriors.empty:
            continue
        beta_rows = _beta_rows(posteriors, scope, taught, column)
        rows.append(_follow_rate_rows(beta_rows, taught, column, now, half_lives[scope]) if on_follows
                    else beta_rows.assign(reward=TOPIC_REWARD_SUCCESS, prior_alpha=1.0, prior_beta=1.0))
    return rows


def _follow_rate_rows(beta_rows: pd.DataFrame, taught: pd.DataFrame, column: str, now: datetime,
                      half_life: Decay) -> pd.DataFrame:
    """Arms learned on followers per 1,000 impressions: alpha and beta become the Gamma shape and rate of each
    value's F/1K (learning/generator_posterior.follow_rate_posteriors, the generator posterior's model and prior),
    the posterior mean its F/1K and the propensity Thompson sampling's over those Gammas. Plays, successes and
    failures keep the success rule's counts, so the table's counts mean one thing for every arm."""
    values = beta_rows["arm_value"].tolist()
    gamma = follow_rate_posteriors(taught, column, values, as_of=now, half_life_days=half_life).set_index(column)
    shape, rate = gamma.loc[values, "shape"].to_numpy(float), gamma.loc[values, "rate"].to_numpy(float)
    propensities = gamma_win_probabilities(values, shape, rate, np.random.default_rng(THOMPSON_SEED), THOMPSON_DRAWS)
    return beta_rows.assign(
        alpha=shape, beta=rate, posterior_mean=shape / rate,
        selection_probability=[propensities[v] for v in values], reward=TOPIC_REWARD_F_PER_1K,
        prior_alpha=gamma.loc[values, "prior_shape"].to_numpy(float),
        prior_beta=gamma.loc[values, "prior_rate"].to_numpy(float))


def write_bandit_arms(conn: Connection, account_id: str, arms: pd.DataFrame) -> None:
    """Replace the account's arms: they are a pure function of the outcome history, never accumulated in place."""
    conn.execute("delete from learn.bandit_arms where account_id = ?", [account_id])
    conn.insert_rows(
        "learn.bandit_arms", ARM_COLUMNS, [[to_python(v) for v in row] for row in arms.itertuples(index=False, name=None)]
    )


def learn_bandit_arms(
    warehouse: Warehouse, now: datetime, settings: LearningSettings | None = None,
    run: AccountRunner = run_directly, only: Collection[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Recompute and store every account's arms, one transaction per account (through `run`, so one account's
    failure can leave the others learned and its own last arms in place); returns them by account."""
    settings = settings or LearningSettings.from_env()
    result: dict[str, pd.DataFrame] = {}
    with warehouse.connect() as conn:
        accounts = mart_accounts(conn, "outcomes", only)

    def learn(account_id: str) -> pd.DataFrame:
        with warehouse.connect() as conn:
            arms = compute_bandit_arms(conn, account_id, now, settings)
            write_bandit_arms(conn, account_id, arms)
        return arms

    for account_id in accounts:
        arms = run(account_id, lambda account_id=account_id: learn(account_id))
        if arms is not None:
            result[account_id] = arms
    with warehouse.connect() as conn:
        forget_accounts_that_left(conn, "learn.bandit_arms", accounts, only)
    return result
