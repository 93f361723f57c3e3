"""Publishing to the local X server, shared by the publishing tests and the fault-injection suite: the real X
connector on a test warehouse, an account that publishes, queued posts, and what became of them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from x_server import ACCESS_SECRET, ACCESS_TOKEN, CONSUMER_KEY, CONSUMER_SECRET

from xbot_assets.acting.accounts import Account
from xbot_assets.connectors.ledger import ApiLedger
from xbot_assets.connectors.x_api.auth import OAuth1Credentials
from xbot_assets.connectors.x_api.client import XApiClient
from xbot_assets.connectors.x_api.connector import XApiConnector
from xbot_assets.ingest.load import write_posts
from xbot_assets.warehouse.connection import Warehouse

AT = datetime(2026, 11, 30, 9, 0)  # the run's clock, and the local server's


def connector(server, wh: Warehouse, account: str = "main", **client) -> XApiConnector:
    """The real client and connector against the local server; waits and back-offs are not slept (`sleep`)."""
    settings = {"read_timeout": 2, "sleep": lambda s: None, **client}
    x_client = XApiClient(OAuth1Credentials(CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_SECRET).auth(),
                          ApiLedger(wh, account, "x-api", monthly_budget=None), base_url=server.url, **settings)
    return XApiConnector(x_client, account, analytics=False, reconcile_delay_seconds=0, sleep=lambda s: None)


def account(**kw) -> Account:
    return Account("main", connector="x-api", scenario=None, **{"publish_enabled": True, **kw})


def queue_posts(wh: Warehouse, *posts: dict) -> None:
    """Queued decisions of account main (`id`, `text`, optional `parts` of a thread and `at`, default AT)."""
    rows = []
    for i, post in enumerate(posts):
        rows.append({"decision_id": post.get("id", f"d{i}"), "account_id": "main", "status": "queued",
                     "decision_type": "thread" if post.get("parts") else "single", "content": post["text"],
                     "thread_parts": json.dumps(post["parts"]) if post.get("parts") else None,
                     "content_type": "wellness_tip", "generator_name": "coach", "quality_score": 0.8,
                     "scheduled_at": post.get("at", AT), "source": "real", "created_at": AT - timedelta(hours=3)})
    with wh.connect() as conn:
        write_posts(conn, rows, now=AT - timedelta(hours=3))


def states(wh: Warehouse) -> dict[str, tuple]:
    """decision id → (status, skip reason or publish note, tweet id)."""
    with wh.connect() as conn:
        return {d: (s, r, t) for d, s, r, t in conn.fetchall(
            "select decision_id, status, coalesce(skip_reason, publish_note), tweet_id from raw.posts")}
