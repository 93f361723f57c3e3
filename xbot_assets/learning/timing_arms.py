"""Timing arms: one arm per posting hour (0–23, in the account's time zone), chosen by UCB1.

The reward is the post's engagement rate (PRODUCT §4). The hour comes from posted_at converted to the account's zone
upstream; the original used the scrape time and the server's zone (reference §7.3), and its UCB table was an
in-memory object that never learned (§2.4c). Here the statistics are recomputed from the outcome history each time.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

HOURS = range(24)
ARM_PREFIX = "timing_"

STATS_COLUMNS = ["arm_name", "hour", "plays", "total_reward", "mean_reward"]


def timing_arm_name(hour: int) -> str:
    return f"{ARM_PREFIX}{hour}"


def _validate_hours(hours: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(hours)
    if not (numeric.between(0, 23).all() and (numeric == np.floor(numeric)).all()):
        bad = sorted(set(numeric[~(numeric.between(0, 23) & (numeric == np.floor(numeric)))].tolist()))
        raise ValueError(f"posted_hour must be a whole hour 0–23; got {bad[:5]}")
    return numeric.astype(int)


def timing_arm_stats(outcomes: pd.DataFrame) -> pd.DataFrame:
    """24 rows, hour 0..23: plays, total_reward and mean_reward (NaN when the hour was never played).

    `outcomes` has columns posted_hour and engagement_rate. Rows missing either teach nothing and are skipped.
    """
    usable = outcomes.loc[outcomes["posted_hour"].notna() & outcomes["engagement_rate"].notna()]
    hours = _validate_hours(usable["posted_hour"])
    rewards = usable["engagement_rate"].astype(float)

    grouped = rewards.groupby(hours.to_numpy()).agg(["size", "sum"]).reindex(list(HOURS))
    stats = pd.DataFrame({"hour": list(HOURS)})
    stats["arm_name"] = stats["hour"].map(timing_arm_name)
    stats["plays"] = grouped["size"].fillna(0).astype(int).to_numpy()
    stats["total_reward"] = grouped["sum"].fillna(0.0).astype(float).to_numpy()
    played = stats["plays"] > 0
    stats["mean_reward"] = np.where(played, stats["total_reward"] / stats["plays"].where(played, 1), np.nan)
    return stats[STATS_COLUMNS]


def reward_scale(rewards: pd.Series | np.ndarray) -> float:
    """The spread of the observed rewards (their standard deviation), 1.0 until two rewards exist.

    UCB1's bonus assumes rewards spread over [0, 1]. Engagement rates live in a band a few hundredths wide, so an
    unscaled bonus swamps every difference between hours and UCB1 degenerates into round-robin; scaling the bonus by
    the rewards' own spread keeps the index's trade-off what UCB1 means it to be.
    """
    values = pd.Series(rewards, dtype="float64").dropna()
    if len(values) < 2:
        return 1.0
    spread = float(values.std(ddof=1))
    return spread if spread > 0 else 1.0


def ucb1_indices(stats: pd.DataFrame, c: float = 1.0, scale: float = 1.0) -> pd.Series:
    """UCB1 index per hour: mean + c·scale·sqrt(2·ln N / n), N = total plays; +inf for an unplayed hour.

    The +inf makes every unplayed hour be tried before any played one is repeated (PRODUCT §5). `scale` is the
    rewards' spread (see reward_scale). The Series is indexed by hour.
    """
    plays = stats["plays"].to_numpy(dtype=float)
    means = stats["mean_reward"].to_numpy(dtype=float)
    total_plays = plays.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        bonus = c * scale * np.sqrt(2.0 * np.log(max(total_plays, 1.0)) / plays)
        index = np.where(plays > 0, means + bonus, np.inf)
    return pd.Series(index, index=stats["hour"].to_numpy(dtype=int), name="ucb1_index")


def ucb1_choice(
    stats: pd.DataFrame,
    c: float = 1.0,
    rng: np.random.Generator | None = None,
    allowed_hours: Iterable[int] | None = None,
    scale: float = 1.0,
) -> tuple[int, float]:
    """The hour with the largest UCB1 index among `allowed_hours` (default: all 24), and its propensity.

    UCB1 is deterministic except for ties, which are broken uniformly at random, so the propensity of the chosen hour
    is 1 / (number of tied hours). N in the index still counts the plays of every hour: the bonus measures how little
    an hour has been tried relative to everything tried so far, whatever the candidates are today.
    Without an rng a fresh unseeded one breaks ties (pass one for reproducible choices).
    """
    indices = ucb1_indices(stats, c, scale)
    if allowed_hours is not None:
        allowed = sorted({int(h) for h in allowed_hours})
        unknown = [h for h in allowed if h not in indices.index]
        if unknown:
            raise ValueError(f"allowed_hours must be hours 0–23 present in the stats; unknown: {unknown}")
        indices = indices.loc[allowed]
    if indices.empty:
        raise ValueError("no hours to choose from")

    best = indices.max()
    if np.isinf(best):
        tied = indices.index[np.isinf(indices.to_numpy())]
    else:
        # Hours with equal evidence compute the same index up to rounding; treat those as ties.
        tied = indices.index[np.isclose(indices.to_numpy(), best, rtol=1e-12, atol=1e-15)]
    rng = rng if rng is not None else np.random.default_rng()
    chosen = int(tied[0]) if len(tied) == 1 else int(rng.choice(np.asarray(tied)))
    return chosen, 1.0 / len(tied)
