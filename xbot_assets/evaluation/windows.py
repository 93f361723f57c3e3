"""Share of oracle and lift over static in consecutive windows of days (issue 14): after an audience change, does
the learned policy climb back? A whole-run mean hides that; a window shows when the learner recovered.

Window k covers days [k·width, (k+1)·width − 1] (`from_day`, `to_day`, both inclusive; the last window may be
shorter). Within a window, F/1K is followers over impressions of the posts published on those days, and the oracle
is the best generator (and topic and hook) of each day on the same impressions, as for the whole run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

WINDOW_DAYS = 10


def policy_windows(posts: Mapping[str, pd.DataFrame], policy: str, days: int,
                   oracle: Callable[[pd.DataFrame], float | None],
                   realized: Callable[[pd.DataFrame], float | None],
                   width: int = WINDOW_DAYS) -> list[dict]:
    """One seed's windows for `policy`; `posts` maps every policy (and "static") to its simulated posts (a `day`
    column), `oracle` and `realized` are the whole-run measures applied to a window's posts."""
    out = []
    for start in range(0, days, width):
        end = min(start + width, days)

        def within(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[(frame["day"] >= start) & (frame["day"] < end)]

        learned, static = realized(within(posts[policy])), realized(within(posts["static"]))
        best = oracle(within(posts[policy]))
        out.append({
            "from_day": start, "to_day": end - 1,
            "share_of_oracle": None if learned is None or not best else learned / best,
            "lift_vs_static": None if learned is None or not static else learned / static - 1.0,
        })
    return out


def mean_windows(per_seed: list[list[dict]], mean: Callable[[list], float | None]) -> list[dict]:
    """The seeds' windows averaged window by window (every seed has the same windows)."""
    if not per_seed:
        return []
    return [{"from_day": first["from_day"], "to_day": first["to_day"],
             **{key: mean([seed[i][key] for seed in per_seed]) for key in ("share_of_oracle", "lift_vs_static")}}
            for i, first in enumerate(per_seed[0])]
