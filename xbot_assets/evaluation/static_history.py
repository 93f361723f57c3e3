"""A static-policy history in one go: posts, metric snapshots and follower snapshots of a simulated account.

Used by tests and benchmarks that need a realistic history to learn from without running the closed loop: the
account posts with the seed's generator weights, content types in turn and the same hours every day, and is read at
fixed ages. (The closed loop, `xbot_assets.evaluation.closed_loop`, is what the demo and the evaluation run.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from xbot_assets.acting.generators.offline import generate_offline
from xbot_assets.acting.text_features import expertise_score, novelty_score, quality_score, viral_score
from xbot_assets.learning.generator_weights import DEFAULT_WEIGHTS
from xbot_assets.simulation.audience import AudienceSimulator
from xbot_assets.simulation.scenario import Scenario

# Ages at which the collector reads a post's counters, and how often the follower count is read.
SNAPSHOT_AGES_HOURS = (1, 2, 6, 12, 24, 48)
FOLLOWER_SNAPSHOT_EVERY = timedelta(minutes=30)
RECENT_WINDOW = timedelta(days=7)


@dataclass
class SimulatedHistory:
    posts: list[dict]
    metric_snapshots: list[dict]
    follower_snapshots: list[dict]
    end: datetime


def slot_hours(posts_per_day: int) -> list[int]:
    """Evenly spread local posting hours, starting at 09:00."""
    step = 14 / max(1, posts_per_day)
    return [int(9 + round(i * step)) % 24 for i in range(posts_per_day)]


def simulate_static_history(scenario: Scenario, days: int, account_id: str, seed: int | None = None) -> SimulatedHistory:
    sim = AudienceSimulator(scenario, seed)
    rng = np.random.default_rng([sim.seed, 4242])
    generators = [g for g in DEFAULT_WEIGHTS if g in scenario.generators] or sorted(scenario.generators)
    weights = np.array([DEFAULT_WEIGHTS.get(g, 0.0) for g in generators], dtype=float)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(generators), 1 / len(generators))
    content_types = sorted(scenario.content_types)
    start_local = scenario.start.astimezone(scenario.tz)
    posts: list[dict] = []
    texts: list[tuple[datetime, str]] = []
    index = 0
    for day in range(days):
        for hour in slot_hours(scenario.posts_per_day):
            local = (start_local + timedelta(days=day)).replace(hour=hour, minute=0, second=0, microsecond=0)
            posted_at = local.astimezone(scenario.start.tzinfo).replace(tzinfo=None)
            generator = str(rng.choice(generators, p=weights))
            content_type = content_types[index % len(content_types)]
            thread = content_type == "educational_thread"
            draft = generate_offline(generator, content_type, rng, thread=thread)
            recent = [t for at, t in texts if posted_at - at <= RECENT_WINDOW]
            quality = quality_score(draft.text, recent)
            decision_id = f"{account_id}-sim-{index:05d}"
            tweet_id = sim.publish(decision_id, index, posted_at, content_type, generator, quality.value, thread)
            posts.append({
                "decision_id": decision_id, "account_id": account_id, "status": "posted",
                "decision_type": "thread" if thread else "single", "content": draft.text,
                "thread_parts": list(draft.thread_parts) or None, "content_type": content_type,
                "generator_name": generator, "topic": draft.topic, "quality_score": quality.value,
                "novelty_score": novelty_score(draft.text, recent), "expertise_score": expertise_score(draft.text),
                "viral_score": viral_score(draft.text), "generator_propensity": float(weights[generators.index(generator)]),
                "content_propensity": 1.0, "timing_propensity": 1.0, "scheduled_at": posted_at,
                "posted_at": posted_at, "tweet_id": tweet_id, "source": "simulated", "created_at": posted_at,
            })
            texts.append((posted_at, draft.text))
            index += 1
    end = (scenario.start + timedelta(days=days)).replace(tzinfo=None)
    snapshots = []
    for post in posts:
        for age in SNAPSHOT_AGES_HOURS:
            at = post["posted_at"] + timedelta(hours=age)
            if at > end:
                break
            snapshots.append({"decision_id": post["decision_id"], "account_id": account_id, "collected_at": at,
                              "source": "simulated", **sim.metrics_at(post["decision_id"], at)})
    followers = []
    at = scenario.start.replace(tzinfo=None)
    while at <= end:
        followers.append({"account_id": account_id, "collected_at": at, "followers": sim.followers_at(at),
                          "source": "simulated"})
        at += FOLLOWER_SNAPSHOT_EVERY
    return SimulatedHistory(posts, snapshots, followers, end)
