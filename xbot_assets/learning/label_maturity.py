"""A young post's engagement rate, brought to the value it settles at by the account's own development factors.

Engagement arrives faster than impressions (likes come in the first hours, impressions keep coming for days), so an
engagement rate read early runs high: 2.2× its 7-day value at 2 hours, 1.14× at 24, 1.02× at 48 on a `default`
loop. The models therefore learned only from posts at least 48 hours old, which leaves out the two newest days —
the evidence that matters most after an audience changes. Claims reserving has met this before (a claim's cost
grows for years after it is filed; the chain-ladder method scales each young year's total by how much older years
grew from the same age): here the settled posts of the account say how much a rate read at age a still moves,

    F(a) = ER_settled / ER_at_a,  each a ratio of sums over the settled posts (Σ engagements / Σ impressions),

with ER_at_a read from each settled post's snapshot nearest to age a (within `AGE_TOLERANCE`), and a young post's
rate read at age a stands for ER_read × F(a). A factor rests on at least `min_posts` settled posts with a snapshot
at that age, or is not given (NaN: the post waits until it is older, as before).

Pure: pandas in, numbers out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SNAPSHOT_COLUMNS = ("decision_id", "age_hours", "impressions", "engagements")
# A settled post's snapshot counts for age a when it was taken within this factor of a (snapshots are taken on
# tiers — 1, 2, 6, 12, 24, 48 and 168 hours in the loop — give or take a collection tick).
AGE_TOLERANCE = 1.25
MIN_SETTLED_POSTS = 20


def development_factors(snapshots: pd.DataFrame, ages, settled_hours: float,
                        min_posts: int = MIN_SETTLED_POSTS) -> np.ndarray:
    """F(a) for each of `ages` from `snapshots` (one row per post and collection: decision_id, age_hours,
    impressions, engagements — cumulative counters as collected). A post is settled when its newest snapshot is at
    least `settled_hours` old; its settled rate is that snapshot's. NaN where fewer than `min_posts` settled posts
    have a snapshot within AGE_TOLERANCE of the age, or where either rate has no impressions."""
    ages = np.asarray(ages, dtype=float)
    factors = np.full(len(ages), np.nan)
    frame = snapshots.loc[:, list(SNAPSHOT_COLUMNS)].dropna()
    frame = frame[(frame["age_hours"] > 0) & (frame["impressions"] > 0)]
    if frame.empty:
        return factors
    newest = frame.loc[frame.groupby("decision_id")["age_hours"].idxmax()]
    newest = newest[newest["age_hours"] >= settled_hours].set_index("decision_id")
    early = frame[frame["decision_id"].isin(newest.index)]
    log_age = np.log(early["age_hours"].to_numpy(dtype=float))
    for age in np.unique(ages[ages > 0]):
        distance = np.abs(log_age - np.log(age))
        near = early.assign(distance=distance)[distance <= np.log(AGE_TOLERANCE)]
        if near.empty:
            continue
        at_age = near.loc[near.groupby("decision_id")["distance"].idxmin()].set_index("decision_id")
        if len(at_age) < min_posts:
            continue
        settled = newest.loc[at_age.index]
        read = at_age["engagements"].sum() / at_age["impressions"].sum()
        final = settled["engagements"].sum() / settled["impressions"].sum()
        if read > 0:
            factors[ages == age] = final / read
    return factors


def settled_engagement_rates(young: pd.DataFrame, snapshots: pd.DataFrame, settled_hours: float,
                             min_posts: int = MIN_SETTLED_POSTS) -> pd.Series:
    """`young`'s engagement_rate (read at its age_hours) times F(age_hours): what it will settle at. A row at least
    `settled_hours` old keeps its rate; NaN where no factor can be given."""
    age = young["age_hours"].to_numpy(dtype=float)
    rate = young["engagement_rate"].to_numpy(dtype=float)
    unsettled = age < settled_hours
    factor = np.ones(len(young))
    factor[unsettled] = development_factors(snapshots, age[unsettled], settled_hours, min_posts)
    return pd.Series(np.clip(rate * factor, 0.0, 1.0), index=young.index)
