"""Faults of X, end to end: queued decisions in the warehouse, `publish_due` (and the settling of a later run) with
the real X connector, the local X server (tests/x_server.py) injecting the fault. Each test measures from the
warehouse and the server's own log: decisions before and after (none lost), the server's posts per text (none
twice), each decision's status and reason, the cost ledger against the server's requests, and the alerts.

No test sleeps: the client's waits and back-offs go to a recorder (`sleep=`), timeouts are fractions of a second."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from x_publishing import AT, account, connector, queue_posts, states
from x_server import FakeXServer

from xbot_assets.acting.collecting import collect_metrics
from xbot_assets.acting.publishing import SETTLE_AFTER, publish_due
from xbot_assets.connectors.ledger import DEFAULT_PRICES, POST
from xbot_assets.ingest.load import write_posts
from xbot_assets.warehouse.connection import Warehouse

FOUND_ON_TIMELINE = "answer lost; the post was found on the timeline"  # the ledger's charge of a reconciled post


@pytest.fixture
def server():
    with FakeXServer() as fake:
        fake.state.clock = lambda: AT
        yield fake


@pytest.fixture
def wh(warehouse_url) -> Warehouse:
    warehouse = Warehouse.from_url(warehouse_url)
    warehouse.migrate()
    return warehouse


def publish(wh, server, at=AT, **client):
    """One publishing run at `at` (at most 2 posts an hour, XBOT_MAX_POSTS_PER_HOUR's default)."""
    return publish_due(wh, connector(server, wh, **client), account(), at)


@dataclass
class Measured:
    decisions: int
    rows_lost: int
    double_posts: int
    server_posts: int
    requests: int  # what the server was asked (its own log)
    calls: int  # what the ledger recorded as sent
    write_cost: float
    alerts: int
    status: dict[str, str]

    def line(self) -> str:
        statuses = ", ".join(f"{d} {s}" for d, s in sorted(self.status.items()))
        return (f"{statuses}; {self.server_posts} posts on X, {self.double_posts} twice; {self.calls} ledger rows "
                f"for {self.requests} requests, writes ${self.write_cost:.3f}; {self.alerts} alert(s)")


def measure(wh: Warehouse, server: FakeXServer, before: set[str]) -> Measured:
    server.wait_idle()
    with wh.connect() as conn:
        after = {r[0]: r[1] for r in conn.fetchall("select decision_id, status from raw.posts")}
        calls = conn.scalar("select count(*) from act.api_calls where coalesce(error, '') <> ?", [FOUND_ON_TIMELINE])
        write_cost = float(conn.scalar("select coalesce(sum(cost_usd), 0) from act.api_calls where price_kind = ?",
                                       [POST]))
        alerts = conn.scalar("select count(*) from act.alerts")
    texts = server.state.texts()
    return Measured(len(after), len(before - set(after)), sum(n - 1 for n in texts.values()), len(server.state.posts),
                    len(server.state.requests), int(calls), write_cost, int(alerts), after)


def assert_every_post_charged_once(m: Measured) -> None:
    """Every request the server saw is a ledger row, and every post on X is charged exactly once."""
    assert m.calls == m.requests
    assert m.write_cost == pytest.approx(DEFAULT_PRICES[POST] * m.server_posts)


def test_429_fifteen_minute_window_waits_then_posts(server, wh, fault):
    fault.expect("platform", "X API 429, 15-minute window", "wait for x-rate-limit-reset, retry; each post once")
    queue_posts(wh, {"text": "Morning light first."}, {"text": "Caffeine before noon."})
    before = set(states(wh))
    server.state.fault("POST", "/2/tweets", "429", reset_in=2)
    waits: list[float] = []
    report = publish(wh, server, sleep=waits.append)
    m = measure(wh, server, before)
    fault.measure(f"waited {waits[0]:.1f} s for a reset 2 s ahead; {m.line()}", rows_lost=m.rows_lost,
                  double_posts=m.double_posts)
    assert len(waits) == 1 and 1 <= waits[0] <= 4
    assert sorted(report.published) == ["d0", "d1"] and set(m.status.values()) == {"posted"}
    assert (m.rows_lost, m.double_posts, m.server_posts, m.alerts) == (0, 0, 2, 0)
    assert_every_post_charged_once(m)


def test_429_window_longer_than_a_run_waits_puts_the_post_back(server, wh, fault):
    fault.expect("platform", "X API 429, window beyond XBOT_X_MAX_WAIT_SECONDS",
                 "back to the queue, the rest of the run waits, alert; sent by a later run")
    queue_posts(wh, {"text": "Morning light first."}, {"text": "Caffeine before noon."})
    before = set(states(wh))
    server.state.fault("POST", "/2/tweets", "429", reset_in=60)
    report = publish(wh, server, max_wait_seconds=5)
    first = measure(wh, server, before)
    publish(wh, server, AT + timedelta(minutes=5))
    m = measure(wh, server, before)
    fault.measure(f"first run: {first.line()}; next run: {m.line()}", rows_lost=m.rows_lost,
                  double_posts=m.double_posts)
    assert report.stopped and "window resets" in report.stopped and report.deferred == ["d0", "d1"]
    assert set(first.status.values()) == {"queued"} and first.server_posts == 0 and first.alerts == 1
    assert set(m.status.values()) == {"posted"} and (m.rows_lost, m.double_posts, m.server_posts) == (0, 0, 2)
    assert_every_post_charged_once(m)


@pytest.mark.parametrize("kind, what, says", [("429_daily", "X API 429, 24-hour cap spent", "24-hour user cap"),
                                              ("402", "X API 402, credits spent", "credits")])
def test_a_spent_cap_or_credits_stop_the_account_and_alert(server, wh, fault, kind, what, says):
    fault.expect("platform", what, "not retried; back to the queue, the rest of the run waits, one alert")
    queue_posts(wh, {"text": "Morning light first."}, {"text": "Caffeine before noon."})
    before = set(states(wh))
    server.state.fault("POST", "/2/tweets", kind)
    report = publish(wh, server)
    first = measure(wh, server, before)
    with wh.connect() as conn:
        [(alert,)] = conn.fetchall("select error from act.alerts")
    publish(wh, server, AT + timedelta(minutes=5))  # topped up / the cap reset
    m = measure(wh, server, before)
    fault.measure(f"first run: {first.line()}; next run: {m.line()}", rows_lost=m.rows_lost,
                  double_posts=m.double_posts)
    assert report.stopped and says in alert and report.deferred == ["d0", "d1"]
    assert set(first.status.values()) == {"queued"} and first.server_posts == 0 and first.requests == 1
    assert set(m.status.values()) == {"posted"} and (m.rows_lost, m.double_posts, m.server_posts) == (0, 0, 2)
    assert_every_post_charged_once(m)


def test_credits_spent_half_way_through_a_thread_stop_the_run_and_alert(server, wh, fault):
    fault.expect("platform", "X API 402 on part 2 of a thread",
                 "the part that went out is kept (posted, with a note); the run stops; alert")
    queue_posts(wh, {"id": "single", "text": "Morning light first.", "at": AT - timedelta(minutes=10)},
                {"id": "thread", "text": "Sleep, 1/3", "parts": ["Sleep, 1/3", "Sleep, 2/3", "Sleep, 3/3"]})
    before = set(states(wh))
    for kind in ("none", "none", "402"):
        server.state.fault("POST", "/2/tweets", kind)
    report = publish(wh, server)
    m = measure(wh, server, before)
    status, note, tweet_id = states(wh)["thread"]
    fault.measure(f"{m.line()}; thread note: {note}", rows_lost=m.rows_lost, double_posts=m.double_posts)
    assert status == "posted" and "stopped after part 1 of 3" in note and tweet_id in server.state.posts
    assert report.stopped and "402" in report.stopped and m.alerts == 1
    assert (m.rows_lost, m.double_posts, m.server_posts) == (0, 0, 2)
    assert_every_post_charged_once(m)


def test_a_5xx_on_a_post_is_checked_then_sent_again_once(server, wh, fault):
    fault.expect("platform", "X API 503 on a post", "timeline read, nothing there, sent again: posted once")
    queue_posts(wh, {"text": "Morning light first."})
    before = set(states(wh))
    server.state.fault("POST", "/2/tweets", "503")
    publish(wh, server)
    m = measure(wh, server, before)
    fault.measure(m.line(), rows_lost=m.rows_lost, double_posts=m.double_posts)
    assert m.status == {"d0": "posted"} and (m.rows_lost, m.double_posts, m.server_posts, m.alerts) == (0, 0, 1, 0)
    assert_every_post_charged_once(m)


def test_5xx_every_time_keeps_the_post_publishing_then_fails_it_unsent(server, wh, fault):
    fault.expect("platform", "X API 503 on every try of a post",
                 "kept 'publishing', the next post still goes; not on X 30 minutes later: failed, never re-sent")
    queue_posts(wh, {"id": "lost", "text": "Nobody answered."}, {"id": "next", "text": "Caffeine before noon."})
    before = set(states(wh))
    for _ in range(3):
        server.state.fault("POST", "/2/tweets", "503")
    publish(wh, server)
    first = measure(wh, server, before)
    publish(wh, server, AT + SETTLE_AFTER + timedelta(minutes=1))
    m = measure(wh, server, before)
    reason = states(wh)["lost"][1]
    fault.measure(f"first run: {first.line()}; after {SETTLE_AFTER}: {m.line()}", rows_lost=m.rows_lost,
                  double_posts=m.double_posts)
    assert first.status == {"lost": "publishing", "next": "posted"}
    assert m.status == {"lost": "failed", "next": "posted"} and "not sent again" in reason
    assert (m.rows_lost, m.double_posts, m.server_posts) == (0, 0, 1)
    assert_every_post_charged_once(m)


def test_a_slow_answer_is_never_sent_twice(server, wh, fault):
    fault.expect("platform", "X API timeout (the post is created after the client gave up)",
                 "not sent again in the run; kept 'publishing'; a later run finds it: posted once")
    queue_posts(wh, {"text": "Tea after 2 pm costs deep sleep."})
    before = set(states(wh))
    server.state.fault("POST", "/2/tweets", "slow", seconds=0.8)
    publish(wh, server, read_timeout=0.3)
    first = measure(wh, server, before)  # waits until the slow answer has created its post
    publish(wh, server, AT + timedelta(minutes=5))
    m = measure(wh, server, before)
    status, note, tweet_id = states(wh)["d0"]
    fault.measure(f"first run: {first.line()}; next run: {m.line()}", rows_lost=m.rows_lost,
                  double_posts=m.double_posts)
    assert first.double_posts == 0 and first.server_posts == 1
    assert status == "posted" and tweet_id in server.state.posts and m.server_posts == 1
    assert (m.rows_lost, m.double_posts) == (0, 0)
    assert_every_post_charged_once(m)


def test_a_connection_dropped_after_the_post_was_created_is_reconciled(server, wh, fault):
    fault.expect("platform", "connection dropped mid-publish (post created, answer lost)",
                 "timeline read, post found: posted once, charged once")
    queue_posts(wh, {"text": "Tea after 2 pm costs you deep sleep & focus."})
    before = set(states(wh))
    server.state.fault("POST", "/2/tweets", "drop_after_create")
    publish(wh, server)
    m = measure(wh, server, before)
    fault.measure(m.line(), rows_lost=m.rows_lost, double_posts=m.double_posts)
    assert m.status == {"d0": "posted"} and states(wh)["d0"][2] in server.state.posts
    assert (m.rows_lost, m.double_posts, m.server_posts, m.alerts) == (0, 0, 1, 0)
    assert_every_post_charged_once(m)


def _chain(wh, decision_id: str) -> list[str]:
    with wh.connect() as conn:
        return json.loads(conn.scalar("select thread_tweet_ids from raw.posts where decision_id = ?", [decision_id]))


def test_a_connection_dropped_mid_thread_finds_part_two_and_finishes(server, wh, fault):
    fault.expect("platform", "connection dropped mid-thread (part 2 of 3 created, answer lost)",
                 "part 2 found on the timeline under part 1, part 3 sent: one complete thread")
    parts = ["Sleep, 1/3", "Sleep, 2/3", "Sleep, 3/3"]
    queue_posts(wh, {"text": parts[0], "parts": parts})
    before = set(states(wh))
    for kind in ("none", "drop_after_create"):
        server.state.fault("POST", "/2/tweets", kind)
    publish(wh, server)
    m = measure(wh, server, before)
    ids = _chain(wh, "d0")
    fault.measure(f"{m.line()}; {len(ids)} of 3 parts recorded", rows_lost=m.rows_lost, double_posts=m.double_posts)
    assert m.status == {"d0": "posted"} and [server.state.posts[i].text for i in ids] == parts
    assert [server.state.posts[i].in_reply_to for i in ids[1:]] == ids[:2]
    assert (m.rows_lost, m.double_posts, m.server_posts) == (0, 0, 3)
    assert_every_post_charged_once(m)


def test_a_thread_whose_part_two_is_unknown_is_settled_with_the_parts_on_x(server, wh, fault):
    fault.expect("platform", "connection dropped mid-thread and the timeline unreadable",
                 "kept 'publishing' with part 1; a later run records the parts X has, sends none again")
    parts = ["Sleep, 1/3", "Sleep, 2/3", "Sleep, 3/3"]
    queue_posts(wh, {"text": parts[0], "parts": parts})
    before = set(states(wh))
    for kind in ("none", "drop_after_create"):
        server.state.fault("POST", "/2/tweets", kind)
    for _ in range(3):
        server.state.fault("GET", "/2/users/:id/tweets", "503")
    publish(wh, server)
    first = measure(wh, server, before)
    publish(wh, server, AT + timedelta(minutes=5))
    m = measure(wh, server, before)
    status, note, _ = states(wh)["d0"]
    ids = _chain(wh, "d0")
    fault.measure(f"first run: {first.line()}; next run: {m.line()}; recorded {len(ids)} parts of the "
                  f"{m.server_posts} on X", rows_lost=m.rows_lost, double_posts=m.double_posts)
    assert first.status == {"d0": "publishing"} and first.server_posts == 2
    assert status == "posted" and "2 of 3 parts" in note
    assert sorted(ids) == sorted(server.state.posts) and (m.rows_lost, m.double_posts, m.server_posts) == (0, 0, 2)
    assert_every_post_charged_once(m)


def test_a_token_rejected_mid_run_stops_and_alerts_and_loses_nothing(server, wh, fault):
    fault.expect("platform", "X API 401 mid-run (token revoked after 1 post)",
                 "the rest back in the queue (not failed), the run stops, alert; sent once the token works")
    queue_posts(wh, {"text": "Morning light first."}, {"text": "Caffeine before noon."})
    before = set(states(wh))
    server.state.revoke_after(posts=1)
    report = publish(wh, server)
    first = measure(wh, server, before)
    server.state.revoke_after(posts=99)  # the operator authorized the app again
    publish(wh, server, AT + timedelta(minutes=5))
    m = measure(wh, server, before)
    fault.measure(f"first run: {first.line()}; next run: {m.line()}", rows_lost=m.rows_lost,
                  double_posts=m.double_posts)
    assert first.status == {"d0": "posted", "d1": "queued"}
    assert report.stopped and "401" in report.stopped and first.alerts == 1 and first.requests == 2
    assert set(m.status.values()) == {"posted"} and (m.rows_lost, m.double_posts, m.server_posts) == (0, 0, 2)
    assert_every_post_charged_once(m)


def _posted_on_x(wh, server, n: int) -> list[str]:
    """n posts X has, recorded as posted two hours before AT (due for their 1- and 2-hour reads)."""
    created = [server.state.create(f"Posted {i}.") for i in range(n)]
    for i, p in enumerate(created):
        p.metrics.update(likes=10 + i, impressions=500)
    with wh.connect() as conn:
        write_posts(conn, [{"decision_id": f"p{i}", "account_id": "main", "status": "posted", "content": p.text,
                            "tweet_id": p.id, "posted_at": AT - timedelta(hours=2), "source": "real"}
                           for i, p in enumerate(created)], now=AT - timedelta(hours=2))
    return [p.id for p in created]


@pytest.mark.parametrize("kind", ["503", "drop", "slow"])
def test_a_failed_metrics_read_is_retried_and_read_once(server, wh, fault, kind):
    what = {"503": "X API 503", "drop": "connection dropped", "slow": "X API timeout"}[kind]
    fault.expect("platform", f"{what} on a metrics read",
                 "retried with back-off (not slept in the test): every counter read, one snapshot per post")
    _posted_on_x(wh, server, 2)
    server.state.fault("GET", "/2/tweets", kind, seconds=0.6)
    report = collect_metrics(wh, connector(server, wh, read_timeout=0.3), account(), [AT])
    server.wait_idle()
    with wh.connect() as conn:
        snapshots = conn.fetchall("select decision_id, likes from raw.metric_snapshots order by decision_id")
        statuses = [r[0] for r in conn.fetchall("select status_code from act.api_calls order by started_at")]
    fault.measure(f"{len(snapshots)} snapshots {snapshots}; ledger statuses {statuses} for "
                  f"{len(server.state.requests)} requests", rows_lost=2 - len(snapshots))
    assert report.loaded == 2 and snapshots == [("p0", 10), ("p1", 11)]
    assert statuses == [503 if kind == "503" else None, 200] and len(server.state.requests) == 2


def test_a_token_rejected_while_collecting_keeps_what_was_read_and_alerts(server, wh, fault):
    fault.expect("platform", "X API 401 while collecting metrics",
                 "not retried; the run ends without a traceback, alert; the posts are read by a later run")
    _posted_on_x(wh, server, 2)
    server.state.revoke_after(posts=0)
    collect_metrics(wh, connector(server, wh), account(), [AT])
    with wh.connect() as conn:
        [(alert,)] = conn.fetchall("select error from act.alerts")
    server.state.revoke_after(posts=99)
    report = collect_metrics(wh, connector(server, wh), account(), [AT + timedelta(minutes=10)])
    fault.measure(f"alert: {alert[:90]}; the next run read {report.loaded} posts", rows_lost=2 - report.loaded)
    assert "401" in alert and report.loaded == 2
