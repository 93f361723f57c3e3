"""The simulator connector: the synthetic audience of `xbot_assets.simulation` behind the connector interface.

The simulated platform keeps its own record of what was published to it (`sim.published`, as X keeps its tweets):
a connector built in a new process replays that record into the simulator, which is deterministic for a seed, so the
counters and the follower count read later are the ones the platform would have shown. Slot k of the record is the
k-th post the account ever published: two runs of different policies share the random numbers of each slot
(common random numbers), which is what makes their comparison sharp. Each post's own follows are reported with its
counters (`follows`, as X's post analytics give them) unless the scenario says `reported_follows: false`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from xbot_assets.clock import utc_naive
from xbot_assets.connectors.base import Publication, Published
from xbot_assets.simulation.audience import AudienceSimulator
from xbot_assets.simulation.scenario import Scenario, load_scenario
from xbot_assets.warehouse.connection import Warehouse

_COLUMNS = ("post_index", "decision_id", "tweet_id", "posted_at", "content_type", "generator_name", "quality_score",
            "is_thread", "topic_arm", "hook")

# One simulator per (warehouse, account, scenario, seed) in a process: replaying is cheap but not free, and the
# closed loop builds a connector for every run.
_CACHE: dict[tuple, AudienceSimulator] = {}


class SimulatorConnector:
    source = "simulated"

    def __init__(self, warehouse: Warehouse, account_id: str, scenario: Scenario, seed: int | None = None):
        self.warehouse = warehouse
        self.account_id = account_id
        self.scenario = scenario
        self.seed = int(scenario.seed if seed is None else seed)
        self.simulator = self._restore()

    @classmethod
    def for_account(cls, warehouse: Warehouse, account_id: str, scenario: str | None,
                    seed: int | None) -> SimulatorConnector:
        """The connector of an account registered with a scenario name (act.accounts.scenario; None = 'default')."""
        return cls(warehouse, account_id, load_scenario(scenario or "default"), seed)

    def _restore(self) -> AudienceSimulator:
        key = (self.warehouse.target.describe(), self.account_id, self.scenario.name, self.scenario.fingerprint(),
               self.seed)
        with self.warehouse.connect() as conn:
            rows = conn.fetchall(
                f"select {', '.join(_COLUMNS)} from sim.published where account_id = ? order by post_index",
                [self.account_id],
            )
        cached = _CACHE.get(key)
        if cached is not None and len(cached.posts) == len(rows) and all(
            p.decision_id == r[1] for p, r in zip(cached.posts, rows, strict=True)
        ):
            return cached
        sim = AudienceSimulator(self.scenario, self.seed)
        for index, decision_id, _tweet, posted_at, content_type, generator, quality, thread, topic, hook in rows:
            sim.publish(decision_id, int(index), posted_at, content_type, generator, float(quality), bool(thread),
                        topic_arm=topic, hook=hook)
        _CACHE[key] = sim
        return sim

    def publish(self, post: Publication, now: datetime) -> Published:
        posted_at = utc_naive(now)
        index = len(self.simulator.posts)
        tweet_id = self.simulator.publish(post.decision_id, index, posted_at, post.content_type, post.generator_name,
                                          post.quality_score, post.is_thread, topic_arm=post.topic_arm, hook=post.hook)
        with self.warehouse.connect() as conn:
            conn.insert_rows("sim.published", ("account_id", *_COLUMNS), [[
                self.account_id, index, post.decision_id, tweet_id, posted_at, post.content_type,
                post.generator_name, float(post.quality_score), post.is_thread, post.topic_arm, post.hook,
            ]])
        return Published(tweet_id=tweet_id, posted_at=posted_at)

    def collect_metrics(self, tweet_ids: Sequence[str], now: datetime) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        for tweet_id in tweet_ids:
            try:
                found[tweet_id] = self.simulator.metrics_for_tweet(tweet_id, now)
            except KeyError:
                continue
            if self.scenario.reported_follows:  # X's post analytics: the post's own follows beside its counters
                found[tweet_id]["follows"] = self.simulator.follows_reported(tweet_id, now)
        return found

    def read_followers(self, now: datetime) -> int:
        return self.simulator.followers_at(now)

    def find_published(self, post: Publication, since: datetime) -> Published | None:
        with self.warehouse.connect() as conn:
            row = conn.fetchone("select tweet_id, posted_at from sim.published where account_id = ? and decision_id = ? "
                                "and posted_at >= ?", [self.account_id, post.decision_id, utc_naive(since)])
        return Published(str(row[0]), utc_naive(row[1])) if row else None


def reset_simulated_account(warehouse: Warehouse, account_id: str) -> None:
    """Forget what the simulated platform holds for an account (a new demo or evaluation starts clean)."""
    with warehouse.connect() as conn:
        conn.execute("delete from sim.published where account_id = ?", [account_id])
    for key in [k for k in _CACHE if k[0] == warehouse.target.describe() and k[1] == account_id]:
        del _CACHE[key]
