"""The generator choices against the simulator's truth: regret in expected followers and the Lai–Robbins floor.

A generator is an arm whose post brings Poisson(λ_g · e) followers for an exposure e = multiplier · impressions /
1000 (the multiplier: the post's topic and hook effects on follows, 1 without them). Per stationary stretch of the
scenario (its generator truths change only at drift days):

- regret = Σ_posts (λ* − λ_g) · e: the expected followers lost to not using the day's best generator;
- floor = ln(n) · Σ_{g suboptimal} (λ* − λ_g) / kl(λ_g, λ*), with the Poisson divergence per unit of exposure
  kl(a, b) = a ln(a/b) + b − a. Lai and Robbins: a policy that is consistent on every such bandit pulls arm g at
  least ln(n) / (e · kl) times as n grows, losing (λ* − λ_g) · e each time, so the exposure cancels.

The floor is asymptotic (a lucky or prior-informed policy can fall below it in a finite run) but it says how much a
run of n posts must spend finding the best generator: `share_at_floor` = 1 − floor / the oracle's expected followers
on the same posts is the share of the oracle a policy regretting exactly the floor would keep. In a short run the
floor can exceed everything the oracle earns (ln(n) grows faster than nothing at first): then it says nothing about
the share, and `share_at_floor` is None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from xbot_assets.simulation.scenario import Scenario


def poisson_kl(rate: float, best: float) -> float:
    """kl(Poisson(rate) ‖ Poisson(best)) per unit of exposure."""
    return rate * math.log(rate / best) + best - rate if rate > 0 else best


def poisson_lai_robbins_constant(rates: Mapping[str, float]) -> float:
    """Σ over the suboptimal arms of (λ* − λ_g) / kl(λ_g, λ*); 0 when every arm ties."""
    best = max(rates.values())
    return float(sum((best - r) / poisson_kl(r, best) for r in rates.values() if r < best))


def generator_regret(scenario: Scenario, posts: pd.DataFrame, days: int) -> dict[str, float | None]:
    """{learned, lai_robbins_bound, share_at_floor} of one account's simulated posts (`LoopResult.simulated_posts`:
    day, generator_name, true_f_per_1k, impressions) over `days`, in expected followers."""
    if posts.empty:
        return {"learned": 0.0, "lai_robbins_bound": 0.0, "share_at_floor": None}
    regret = floor = oracle = 0.0
    for start, end in scenario.stationary_segments(days):
        stretch = posts[(posts["day"] >= start) & (posts["day"] < end)]
        if stretch.empty:
            continue
        rates = scenario.truth_at(start).generators
        best = max(rates.values())
        chosen = stretch["generator_name"].map(rates).astype(float)
        # the post's exposure: its impressions in thousands times its topic and hook effects on follows
        multiplier = (stretch["true_f_per_1k"].astype(float) / chosen).where(chosen > 0, 1.0)
        exposure = multiplier * stretch["impressions"].astype(float) / 1000.0
        regret += float(((best - chosen) * exposure).sum())
        oracle += float((best * exposure).sum())
        if len(stretch) > 1:
            floor += math.log(len(stretch)) * poisson_lai_robbins_constant(rates)
    return {"learned": regret, "lai_robbins_bound": floor,
            "share_at_floor": 1.0 - floor / oracle if oracle > floor else None}
