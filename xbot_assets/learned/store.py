"""What every writer of the learned tables shares: the learn group's settings, data fingerprints, the canonical
form of values read from either warehouse, and the per-account lock of the generator weights."""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from xbot_assets.learning.forgetting import AUTO, HalfLife
from xbot_assets.settings import env_float, env_int
from xbot_assets.warehouse.connection import Connection, hash_lock_id

THOMPSON_DRAWS = 20_000
THOMPSON_SEED = 20_260_101  # fixed: the stored propensities depend on the posteriors alone, so reruns agree
# What an arm's alpha and beta are the posterior of (learn.bandit_arms.reward): Beta on the success rule, or Gamma
# shape and rate of followers per 1,000 impressions (topic arms under XBOT_TOPIC_REWARD=f_per_1k).
TOPIC_REWARD_SUCCESS = "success"
TOPIC_REWARD_F_PER_1K = "f_per_1k"
TOPIC_REWARDS = (TOPIC_REWARD_SUCCESS, TOPIC_REWARD_F_PER_1K)


@dataclass(frozen=True)
class LearningSettings:
    """What the learn group reads from the environment (defaults from the seeds).

    XBOT_MIN_TRAINING_SAMPLES (50): a model is not trained on fewer gated outcomes.
    XBOT_UCB_C (1.0): the exploration constant of the timing arms' UCB1.
    XBOT_ARM_HALF_LIFE_DAYS (`auto`, the default: chosen per arm scope by the account's own data,
      learning/forgetting.py; a number of days; 0 = never forget): recency-weight the arms' successes and failures.
    XBOT_LEARNING_WINDOW_DAYS (7): the generator optimizer's window; must match the dbt var learning_window_days,
      which labels the mart's window ('7d').
    XBOT_MODEL_WINDOW_DAYS (30, the original's intended predictor lookback; 0 = all history): the models train on
      gated outcomes posted in (now − N days, now]. Seven days of a 4-posts-a-day account is below the 50-sample
      minimum, so the models read a longer window than the optimizer (the follow model at least 84 days:
      learned/models.py FOLLOW_WINDOW_DAYS).
    XBOT_MODEL_MIN_AGE_HOURS (48): the models learn from posts whose latest counters are at least this old.
      Engagement comes in faster than impressions, so a young post's engagement rate is inflated (measured on a
      60-day default loop, against its 7-day value: 2.2× at 2 hours, 1.14× at 24, 1.02× at 48) and its followers
      are not in yet; the bandits may learn from young posts (the seed's 2-hour gate), a regression fitted on them
      learns the age instead of the content. Measured on the 60-day hidden_gem loop: holdout R² 0.39 with every
      gated post, 0.77 from 24 hours on. From 48 (was 24): replaying four kept 60-day logs day by day with the
      labels each morning's model could read, the next day's engagement R² rose on six of the eight accounts
      (pooled mean 0.401 → 0.444 at alpha 10; default's weights account 0.39 → 0.48) and fell on drift's two
      (0.33 → 0.31, 0.37 → 0.34: after its audience change the newest day matters most).
    XBOT_ENGAGEMENT_MIN_AGE_HOURS (6): the engagement model also learns from posts this old and younger than
      XBOT_MODEL_MIN_AGE_HOURS, each with its engagement rate brought to the value it settles at by the account's own
      development factors (learning/label_maturity.py); a value at or above XBOT_MODEL_MIN_AGE_HOURS turns this off.
      The follow model keeps the settled posts only: replaying its counts from 24 hours raised nothing.
    XBOT_ENGAGEMENT_HALF_LIFE_DAYS (14; 0 = none): the engagement model weighs each post by 0.5 ** (age /
      half-life) as well as by its impressions, and reads max(XBOT_MODEL_WINDOW_DAYS, 6 half-lives) of posts (84
      days: an older post would weigh under 2 %). Replayed day by day on one kept 60-day log per shipped scenario,
      the next day's R² as a share of its ceiling, mean of the 8 learning accounts: 0.747 with the 30-day window,
      0.758 with all 60 days unweighted (drift's two accounts lost 0.06 and 0.09), 0.766 / 0.786 / 0.781 / 0.771
      with all days and a half-life of 7 / 10 / 14 / 21 days. 10 and 14 tie within the noise of one log each; 14,
      the longer memory (as the arms' forgetting prefers), beat the 30-day window on 7 of the 8 accounts.
    XBOT_TOPIC_REWARD (`success`): what the topic arms learn — `success` (Beta posteriors on the success rule, as the
      content and hook arms) or `f_per_1k` (Gamma–Poisson posteriors of followers per 1,000 impressions, as the
      generator posterior: the topic that brings followers, not the one that engages).
    XBOT_FOLLOW_MIN_FOLLOWERS (1, as dbt's var follow_min_followers reads it): the follow label is "the post won at
      least this many followers", and the follow model serves the probability of that from its expected count.
    XBOT_MODEL_CHOICES (1): the models may read the generator, topic arm and hook type as one-hots (the follow model
      always, the engagement model when they lower its error on newer training rows); 0: content type, hour,
      thread and the text's scores only, as before.
    """

    min_training_samples: int = 50
    ucb_c: float = 1.0
    arm_half_life_days: HalfLife = AUTO
    learning_window_days: int = 7
    model_window_days: int | None = 30
    model_min_age_hours: float = 48.0
    engagement_min_age_hours: float = 6.0
    engagement_half_life_days: float | None = 14.0
    topic_reward: str = TOPIC_REWARD_SUCCESS
    model_choices: bool = True
    follow_min_followers: float = 1.0

    @classmethod
    def from_env(cls) -> LearningSettings:
        half_life = half_life_setting("XBOT_ARM_HALF_LIFE_DAYS")
        model_window = env_int("XBOT_MODEL_WINDOW_DAYS", 30)
        engagement_half_life = env_float("XBOT_ENGAGEMENT_HALF_LIFE_DAYS", 14.0)
        settings = cls(
            min_training_samples=env_int("XBOT_MIN_TRAINING_SAMPLES", 50),
            ucb_c=env_float("XBOT_UCB_C", 1.0),
            arm_half_life_days=half_life,
            learning_window_days=env_int("XBOT_LEARNING_WINDOW_DAYS", 7),
            model_window_days=model_window if model_window > 0 else None,
            model_min_age_hours=env_float("XBOT_MODEL_MIN_AGE_HOURS", 48.0),
            engagement_min_age_hours=env_float("XBOT_ENGAGEMENT_MIN_AGE_HOURS", 6.0),
            engagement_half_life_days=engagement_half_life if engagement_half_life > 0 else None,
            topic_reward=(os.environ.get("XBOT_TOPIC_REWARD") or TOPIC_REWARD_SUCCESS).strip().lower(),
            model_choices=env_int("XBOT_MODEL_CHOICES", 1) != 0,
            follow_min_followers=env_float("XBOT_FOLLOW_MIN_FOLLOWERS", 1.0),
        )
        if settings.topic_reward not in TOPIC_REWARDS:
            raise ValueError(f"XBOT_TOPIC_REWARD must be one of {', '.join(TOPIC_REWARDS)}, "
                             f"got {settings.topic_reward!r}")
        if settings.learning_window_days < 1:
            raise ValueError(f"XBOT_LEARNING_WINDOW_DAYS must be at least 1, got {settings.learning_window_days}")
        if engagement_half_life < 0:
            raise ValueError(f"XBOT_ENGAGEMENT_HALF_LIFE_DAYS must not be negative, got {engagement_half_life}")
        if (young := settings.engagement_min_age_hours) < 0:
            raise ValueError(f"XBOT_ENGAGEMENT_MIN_AGE_HOURS must not be negative, got {young}")
        if settings.ucb_c < 0:
            raise ValueError(f"XBOT_UCB_C must not be negative, got {settings.ucb_c}")
        return settings


def half_life_setting(name: str, default: HalfLife = AUTO) -> HalfLife:
    """A half-life setting: unset (the default), `auto`, a number of days, or 0 (never forget)."""
    if (os.environ.get(name) or "").strip().lower() == AUTO:
        return AUTO
    if os.environ.get(name) in (None, ""):
        return default
    days = env_float(name, 0.0)
    if days < 0:
        raise ValueError(f"{name} must be a number of days, 0 or {AUTO!r}, got {days}")
    return days if days > 0 else None


def canonical(value: Any) -> Any:
    """A JSON value that is equal for equal data whichever engine returned it (DuckDB numpy types, psycopg2 types)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer, float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            return None if math.isnan(number) else str(number)
        # 10 significant digits: a rebuilt mart may sum floats in another order; that is not a change of data.
        rounded = float(f"{number:.10g}")
        return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded
    if isinstance(value, (pd.Timestamp, datetime)):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return stamp.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # other numpy scalars
        return canonical(value.item())
    return str(value)


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def frame_rows(frame: pd.DataFrame, columns: Sequence[str]) -> list[list[Any]]:
    return [[canonical(v) for v in row] for row in frame[list(columns)].itertuples(index=False, name=None)]


def json_dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def timestamp_or_none(value: str | None) -> datetime | None:
    if not value:
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def lock_account_weights(conn: Connection, account_id: str) -> None:
    """Serialise writers of one account's weights (PostgreSQL; DuckDB already allows one writing process)."""
    if conn.kind == "postgres":
        conn.execute("select pg_advisory_xact_lock(?)", [hash_lock_id(f"xbot-learn-weights:{account_id}")])


def mart_accounts(conn: Connection, mart: str, only: Collection[str] | None = None) -> list[str]:
    """The accounts with rows in `analytics.<mart>`; with `only`, those of them in `only` (a run's partitions)."""
    found = [r[0] for r in conn.fetchall(f"select distinct account_id from analytics.{mart} order by account_id")]
    return found if only is None else [a for a in found if a in set(only)]


def static_accounts(conn: Connection) -> set[str]:
    """The accounts registered with the static policy (the evaluation's and the demo's baseline): they plan from the
    seed defaults, read no learned state, and are not learned."""
    return {r[0] for r in conn.fetchall("select account_id from act.accounts where policy = 'static'")}


def forget_accounts_that_left(conn: Connection, table: str, kept: Collection[str],
                              only: Collection[str] | None = None) -> None:
    """Delete `table`'s rows of the accounts that left the marts: those not in `kept` — among `only` when a run
    covers some accounts (its partitions), so one account's run never touches another account's rows."""
    where, params = [], []
    if kept:
        where.append(f"account_id not in ({', '.join('?' for _ in kept)})")
        params += list(kept)
    if only is not None:
        if not only:
            return
        where.append(f"account_id in ({', '.join('?' for _ in only)})")
        params += list(only)
    conn.execute(f"delete from {table}" + (f" where {' and '.join(where)}" if where else ""), params or None)


_T = TypeVar("_T")
# How a per-account loop runs one account's work: `run(account_id, work)` returns work()'s result, or None when the
# runner caught the account's failure (defs.isolation.AccountLoop.run reports it and the loop goes on).
AccountRunner = Callable[[str, Callable[[], Any]], Any]


def run_directly(account_id: str, work: Callable[[], _T]) -> _T:
    """The runner without isolation: an account's error propagates (callers outside a Dagster step)."""
    return work()
