"""What one planner candidate costs, and where it goes, measured in one run.

The planner alone (`acting.planner.plan_day`, pure: no warehouse), with the offline generator, on a learned state
shaped like a 30-day account's: content, hook and topic arms with evidence, generator posteriors over the twelve
generators (posterior sampling, a new account's default), trained engagement and follow models that read the
generator, topic and hook one-hots, and a week of recent posts for the similarity gates. Usage:

    .venv/bin/python benchmarks/planner_cost.py [--days 40] [--posts-per-day 8]

Prints milliseconds per candidate (timed without the profiler), then each part's share of the planner's time (from a
cProfile pass over the same days): drafting, the text scores, the random choices with their Monte Carlo
propensities, the models' features and predictions, and the rest (gates, bookkeeping). `xbot evaluate`'s
`timing_seconds.planner_ms_per_candidate` is the planning step's time per candidate, which also reads the state from
the warehouse and writes every candidate; the two side by side say how much of the step is the planner itself.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from datetime import datetime

import numpy as np
import pandas as pd

from xbot_assets.acting import planner
from xbot_assets.acting.arm_choices import choose_hook, choose_topic, write_with
from xbot_assets.acting.generators.offline import TOPICS, generate_offline
from xbot_assets.acting.planner import DEFAULT_CONTENT_TYPES, ModelView, PlanningState, PlanSettings, plan_day
from xbot_assets.acting.text_features import (
    expertise_score,
    max_similarity,
    quality_score,
    viral_score,
    weighted_length,
)
from xbot_assets.ingest.hooks import HOOK_TYPES
from xbot_assets.learning.engagement_model import train_engagement_model
from xbot_assets.learning.features import choice_values, features_for_models
from xbot_assets.learning.follow_model import train_follow_model
from xbot_assets.learning.generator_posterior import generator_posteriors
from xbot_assets.learning.generator_weights import DEFAULT_WEIGHTS
from xbot_assets.learning.predictors import predict_engagement, predict_follow_probability

NOW = datetime(2026, 3, 1)
PARTS = {
    "drafting (offline generator)": [write_with],
    "text scores (similarity, quality, expertise, viral)": [max_similarity, quality_score, expertise_score,
                                                             viral_score],
    "choices and their propensities (hours, content, generator, topic, hook)": [
        planner.choose_hours, planner._content_choice, planner._generator_choice, choose_topic, choose_hook],
    "model features and predictions": [features_for_models, predict_engagement,
                                       predict_follow_probability],
    "length gate (weighted length)": [weighted_length],
}


def _history(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Posts with the columns the models train on; engagement and follows move with quality and the generator."""
    generators = list(DEFAULT_WEIGHTS)
    posts = pd.DataFrame({
        "posted_at": pd.date_range("2026-01-30", periods=n, freq="6h"),
        "content_type": rng.choice(list(DEFAULT_CONTENT_TYPES), n), "posted_hour": rng.integers(7, 22, n),
        "decision_type": rng.choice(["single", "thread"], n, p=[0.8, 0.2]), "quality_score": rng.uniform(0.5, 1, n),
        "novelty_score": rng.uniform(0, 1, n), "expertise_score": rng.uniform(0, 1, n),
        "viral_score": rng.uniform(0, 1, n), "generator_name": rng.choice(generators, n),
        "topic_arm": rng.choice([t[0] for t in TOPICS], n), "hook": rng.choice(list(HOOK_TYPES), n),
    })
    lift = posts["generator_name"].map({g: 0.004 * i for i, g in enumerate(generators)})
    posts["engagement_rate"] = 0.01 + 0.03 * posts["quality_score"] + lift + rng.normal(0, 0.004, n)
    posts["followers_gained"] = (rng.uniform(0, 1, n) < 0.2 + 10 * lift).astype(int)
    posts["impressions"] = rng.integers(300, 3000, n)
    return posts


def learned_state(rng: np.random.Generator) -> PlanningState:
    posts = _history(rng, 120)
    types, choices = list(DEFAULT_CONTENT_TYPES), choice_values(posts)
    engagement = train_engagement_model(posts, types, choices=choices).to_json()
    follow = train_follow_model(posts, types, choices=choices).to_json()

    def arms(values, column="arm_value"):
        wins = rng.integers(1, 15, len(values)).astype(float)
        return pd.DataFrame({column: list(values), "alpha": 1 + wins, "beta": 1 + 15 - wins})

    recent = [generate_offline(g, t, rng).text for g, t in zip(rng.choice(list(DEFAULT_WEIGHTS), 28),
                                                               rng.choice(list(DEFAULT_CONTENT_TYPES), 28),
                                                               strict=True)]
    return PlanningState(
        content_arms=arms(DEFAULT_CONTENT_TYPES, "content_type"),
        timing_stats=pd.DataFrame({"hour": range(24), "plays": rng.integers(0, 12, 24).astype(float),
                                   "mean_reward": rng.uniform(0.02, 0.06, 24)}),
        reward_scale=0.01, generator_weights=dict(DEFAULT_WEIGHTS),
        generator_posteriors=generator_posteriors(posts[["generator_name", "impressions", "followers_gained",
                                                         "posted_at"]], list(DEFAULT_WEIGHTS))[
            ["generator_name", "shape", "rate"]],
        engagement=ModelView(engagement, True, "benchmark"), follow=ModelView(follow, True, "benchmark"),
        recent_texts=recent, topic_weights={t[0]: 1.0 / len(TOPICS) for t in TOPICS},
        topic_arms=arms([t[0] for t in TOPICS]), hook_arms=arms(HOOK_TYPES),
    )


def plan_days(state: PlanningState, settings: PlanSettings, days: int) -> int:
    candidates = 0
    for day in range(days):
        candidates += len(plan_day(state, settings, NOW, np.random.default_rng(day),
                                   lambda at, i: f"d-{at:%H%M}-{i}"))
    return candidates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--posts-per-day", type=int, default=8)
    args = parser.parse_args()
    state = learned_state(np.random.default_rng(7))
    settings = PlanSettings(posts_per_day=args.posts_per_day, generator_policy="posterior")
    plan_days(state, settings, 2)  # warm: first calls fill caches and import lazily

    started = time.perf_counter()
    candidates = plan_days(state, settings, args.days)
    seconds = time.perf_counter() - started
    print(f"planner: {candidates} candidates over {args.days} days in {seconds:.2f} s — "
          f"{1000 * seconds / candidates:.2f} ms a candidate (no profiler)")

    profile = cProfile.Profile()
    profile.runcall(plan_days, state, settings, args.days)
    stats = pstats.Stats(profile).stats  # (file, line, name) -> (calls, primitive, tottime, cumtime, callers)
    by_code = {(key[0], key[2]): value[3] for key, value in stats.items()}
    total = by_code[(plan_day.__code__.co_filename, "plan_day")]
    print(f"where it goes (cProfile, {total:.2f} s with the profiler's overhead):")
    accounted = 0.0
    for part, functions in PARTS.items():
        spent = sum(by_code.get((f.__code__.co_filename, f.__name__), 0.0) for f in functions)
        accounted += spent
        print(f"  {part:<72} {spent:6.2f} s  {spent / total:5.1%}")
    print(f"  {'the rest (gates, candidates, bookkeeping)':<72} {total - accounted:6.2f} s  "
          f"{(total - accounted) / total:5.1%}")


if __name__ == "__main__":
    main()
