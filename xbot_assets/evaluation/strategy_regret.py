"""Topic and hook learning measured against the simulator's truth (issue 17).

The topic and hook arms are Bernoulli bandits on the success rule (observed ER > the scenario's threshold, 3 %), as
the content arms are. For each, as `evaluate.content_regret` does for content types: per stationary stretch of the
scenario, an arm's success probability is averaged over the contexts of the learner's own posts (content type,
local hour, quality in steps of 0.05, and the post's other choice — its hook for the topic arms, its topic for the
hook arms), with the scenario's topic and hook effects applied; the regret sums μ* − μ(chosen) over the posts, and
the bound is the Lai–Robbins floor ln(n) · Σ_{a suboptimal} (μ* − μ_a) / kl(μ_a, μ*) for as many posts.

The arms are the planner's: the offline niche's topics (the evaluation's accounts have no profile) and the seven
hook types. Whether the learned strategy (`learn/strategy`) names the truth's best topic and hook is read from its
stored document: its first topic and first hook against the scenario's highest engagement multiplier. A scenario
without effects has every arm alike: regret and bound are 0 and there is no best to name.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from xbot_assets.acting.generators.offline import TOPICS
from xbot_assets.ingest.hooks import HOOK_TYPES
from xbot_assets.learned.strategy import load_strategy
from xbot_assets.simulation.audience import AudienceSimulator, lai_robbins_constant_from_probs
from xbot_assets.simulation.scenario import Scenario

OFFLINE_TOPICS: tuple[str, ...] = tuple(t[0] for t in TOPICS)
SCOPES = {"topic": ("topic_arm", "hook"), "hook": ("hook", "topic_arm")}  # the arm's column, the other choice's


def arm_regret(probs: Mapping[str, float], chosen: Sequence[str]) -> tuple[float, float]:
    """(Σ μ* − μ(chosen), ln(n) · Σ_{a suboptimal} (μ* − μ_a)/kl(μ_a, μ*)) for n = len(chosen) posts of one
    stationary stretch with arm success probabilities `probs` (the bound is 0 for n <= 1)."""
    if not chosen:
        return 0.0, 0.0
    best = max(probs.values())
    regret = float(sum(best - probs[a] for a in chosen))
    bound = math.log(len(chosen)) * lai_robbins_constant_from_probs(dict(probs)) if len(chosen) > 1 else 0.0
    return regret, float(bound)


def _text(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def faced_arm_probs(sim: AudienceSimulator, posts: pd.DataFrame, scope: str, arms: Sequence[str],
                    day: int) -> dict[str, float]:
    """P(ER > threshold) of every arm of `scope` ('topic' or 'hook') averaged over the contexts of `posts`, with
    the truths of `day` and the scenario's effects."""
    _, other = SCOPES[scope]
    contexts = Counter(
        (str(ct), int(h), round(float(q) * 20) / 20, _text(o))
        for ct, h, q, o in zip(posts["content_type"], posts["local_hour"], posts["quality_score"], posts[other],
                               strict=True))
    total: dict[str, float] = defaultdict(float)
    for (content_type, hour, quality, other_value), n in contexts.items():
        for arm in arms:
            choice = {"topic": arm, "hook": other_value} if scope == "topic" else {"topic": other_value, "hook": arm}
            er = sim.expected_er(content_type, hour, quality, day, **choice)
            total[arm] += n * sim.success_probability(er, hour)
    return {arm: total[arm] / len(posts) for arm in arms}


def scope_regret(sim: AudienceSimulator, posts: pd.DataFrame, days: int, scope: str,
                 arms: Sequence[str]) -> tuple[float, float]:
    """(regret, Lai–Robbins bound) of the `scope` choices of `posts` (a simulator's published posts) over `days`."""
    scenario = sim.scenario
    effects = scenario.topic_effects if scope == "topic" else scenario.hook_effects
    column, _ = SCOPES[scope]
    if posts.empty or not effects or column not in posts:
        return 0.0, 0.0
    played = posts[posts[column].map(_text).isin(list(arms))]
    regret = bound = 0.0
    for start, end in scenario.stationary_segments(days):
        stretch = played[(played["day"] >= start) & (played["day"] < end)]
        if stretch.empty:
            continue
        r, b = arm_regret(faced_arm_probs(sim, stretch, scope, arms, start), [str(a) for a in stretch[column]])
        regret, bound = regret + r, bound + b
    return regret, bound


def follow_ceiling(scenario: Scenario, topics: Sequence[str] = OFFLINE_TOPICS,
                   hooks: Sequence[str] = HOOK_TYPES) -> float:
    """The F/1K multiplier of always the best topic and hook (1.0 without effects): the oracle's share of them."""
    return (max(scenario.topic_effect(t, "follows") for t in topics)
            * max(scenario.hook_effect(h, "follows") for h in hooks))


def strategy_names(conn, account_id: str, scenario: Scenario) -> dict[str, dict[str, Any]]:
    """Does the stored learned strategy name the truth's best topic and hook first?"""
    strategy = load_strategy(conn, account_id) or {}
    out = {}
    for scope, key, best in (("topic", "top_topics", scenario.best_topic()),
                             ("hook", "effective_hooks", scenario.best_hook())):
        ranked = strategy.get(key) or []
        named = ranked[0].get(scope) if ranked else None
        out[scope] = {"true_best": best, "named": named, "correct": None if best is None else named == best}
    return out


def strategy_regret(loop, warehouse, account_id: str, *, with_strategy: bool = True) -> dict[str, Any]:
    """The evaluation's entries for one account of a closed loop: topic and hook regret with their bounds, and
    (learning accounts) whether the learned strategy names the true best topic and hook."""
    posts = loop.simulated_posts(account_id)
    sim = loop.connectors[account_id].simulator
    out: dict[str, Any] = {}
    for scope, arms in (("topic", OFFLINE_TOPICS), ("hook", HOOK_TYPES)):
        regret, bound = scope_regret(sim, posts, loop.days, scope, arms)
        out[f"{scope}_regret"] = {"learned": regret, "lai_robbins_bound": bound}
    if with_strategy:
        with warehouse.connect() as conn:
            out["strategy_names"] = strategy_names(conn, account_id, loop.scenario)
    return out


def mean_entries(mean_of: Callable[[list[str]], float | None], policy: str) -> dict[str, Any]:
    """Means over seeds of `strategy_regret`'s entries (`mean_of` averages a path through the per-seed entries;
    'correct' becomes the share of seeds whose strategy named the true best)."""
    out: dict[str, Any] = {f"{s}_regret": {k: mean_of([policy, f"{s}_regret", k]) for k in ("learned",
                                                                                            "lai_robbins_bound")}
                           for s in SCOPES}
    out["strategy_names_true_best"] = {s: mean_of([policy, "strategy_names", s, "correct"]) for s in SCOPES}
    return out
