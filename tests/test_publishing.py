"""Publishing's state machine with the real X connector and the local X server: dry run, approval, links, the
conditional claim, unknown outcomes settled from the platform, stops on spent credits, threads next to single posts.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from x_publishing import AT, account, connector, queue_posts, states
from x_server import FakeXServer

from xbot_assets.acting.accounts import register_account
from xbot_assets.acting.approvals import ApprovalError, approve, queue, reject
from xbot_assets.acting.publishing import SETTLE_AFTER, publish_due
from xbot_assets.warehouse.connection import Warehouse


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


def test_dry_run_sends_nothing_and_says_so(server, wh):
    queue_posts(wh, {"text": "Morning light sets your clock."})
    report = publish_due(wh, connector(server, wh), account(publish_enabled=False), AT)
    assert not server.state.posts and not report.published
    status, reason, _ = states(wh)["d0"]
    assert status == "skipped" and reason.startswith("dry run: publishing is off")


def test_a_thread_and_a_single_post_in_one_run(server, wh):
    queue_posts(wh, {"text": "Sleep, part 1", "parts": ["Sleep, part 1", "part 2", "part 3"]},
                {"text": "Caffeine has a 5-hour half-life."})
    report = publish_due(wh, connector(server, wh), account(), AT)
    assert sorted(report.published) == ["d0", "d1"] and len(server.state.posts) == 4
    with wh.connect() as conn:
        ids = json.loads(conn.scalar("select thread_tweet_ids from raw.posts where decision_id = 'd0'"))
    assert len(ids) == 3 and all(i in server.state.posts for i in ids)


def test_links_are_refused_unless_allowed(server, wh):
    queue_posts(wh, {"text": "Full guide at https://example.com/sleep"})
    publish_due(wh, connector(server, wh), account(), AT)
    status, reason, _ = states(wh)["d0"]
    assert status == "skipped" and "does not allow links" in reason and not server.state.posts


def test_approval_waits_publishes_approved_and_keeps_rejections(server, wh):
    register_account(wh, account(approval_required=True), AT)
    queue_posts(wh, {"id": "a", "text": "Approved post"}, {"id": "b", "text": "Rejected post"},
                {"id": "c", "text": "Waiting post"})
    assert list(queue(wh)["state"]) == ["pending approval"] * 3
    approve(wh, "a", AT)
    reject(wh, "b", "off-brand", AT)
    with pytest.raises(ApprovalError, match="needs a reason"):
        reject(wh, "c", " ", AT)
    with pytest.raises(ApprovalError, match="skipped, not queued"):
        approve(wh, "b", AT)
    report = publish_due(wh, connector(server, wh), account(approval_required=True), AT)
    assert report.published == ["a"] and report.deferred == ["c"]
    got = states(wh)
    assert got["b"][:2] == ("skipped", "rejected by operator: off-brand") and got["c"][0] == "queued"
    publish_due(wh, connector(server, wh), account(approval_required=True), AT + timedelta(hours=2))
    assert states(wh)["c"][0] == "skipped" and "never approved" in states(wh)["c"][1]


def test_a_post_claimed_by_another_publisher_is_not_sent(server, wh):
    queue_posts(wh, {"text": "Only once"})
    with wh.connect() as conn:  # another publisher claimed it a moment ago
        conn.execute("update raw.posts set status = 'publishing', publishing_started_at = ? where decision_id = 'd0'",
                     [AT])
    report = publish_due(wh, connector(server, wh), account(), AT)
    assert not server.state.posts and not report.published
    assert states(wh)["d0"][0] == "publishing"


def test_unknown_outcome_stays_publishing_then_is_settled(server, wh):
    queue_posts(wh, {"id": "lost", "text": "Nobody answered"}, {"id": "made", "text": "Created, then the line died"})
    for _ in range(3):
        server.state.fault("POST", "/2/tweets", "503")
    report = publish_due(wh, connector(server, wh), account(), AT)
    assert states(wh)["lost"][0] == "publishing" and "outcome unknown" in states(wh)["lost"][1]
    assert report.published == ["made"]  # the next post still went out
    # The platform shows a post with the first text (say, created by the last 503): a later run records it.
    server.state.create("Nobody answered")
    publish_due(wh, connector(server, wh), account(), AT + timedelta(minutes=10))
    status, note, tweet_id = states(wh)["lost"]
    assert status == "posted" and tweet_id in server.state.posts and "settled from the platform" in note
    assert len(server.state.posts) == 2


def test_unknown_outcome_not_on_the_platform_fails_without_resending(server, wh):
    queue_posts(wh, {"text": "Never arrived"})
    for _ in range(3):
        server.state.fault("POST", "/2/tweets", "503")
    publish_due(wh, connector(server, wh), account(), AT)
    publish_due(wh, connector(server, wh), account(), AT + SETTLE_AFTER + timedelta(minutes=1))
    status, reason, _ = states(wh)["d0"]
    assert status == "failed" and "not sent again" in reason
    assert [r.method for r in server.state.requests].count("POST") == 3


def test_spent_credits_stop_the_run_and_alert(server, wh):
    queue_posts(wh, {"text": "first"}, {"text": "second"})
    server.state.fault("POST", "/2/tweets", "402")
    report = publish_due(wh, connector(server, wh), account(), AT)
    assert report.stopped and "402" in report.stopped and report.deferred == ["d0", "d1"]
    assert {s for s, _, _ in states(wh).values()} == {"queued"}  # back in the queue, sent later
    with wh.connect() as conn:
        alerts = conn.fetchall("select alert_id, error from act.alerts")
    assert len(alerts) == 1 and "credits" in alerts[0][1]
    publish_due(wh, connector(server, wh), account(), AT + timedelta(minutes=5))
    assert {s for s, _, _ in states(wh).values()} == {"posted"}


def test_a_rejected_post_other_than_credits_fails_with_the_platforms_reason(server, wh):
    queue_posts(wh, {"text": "Duplicate content"})
    server.state.fault("POST", "/2/tweets", "403", detail="You are not allowed to create a Tweet with duplicate content.")
    publish_due(wh, connector(server, wh), account(), AT)
    status, reason, _ = states(wh)["d0"]
    assert status == "failed" and "duplicate content" in reason


def test_a_post_the_platform_cannot_settle_alerts_instead_of_waiting_in_silence(server, wh):
    queue_posts(wh, {"text": "Never answered"})
    for _ in range(3):
        server.state.fault("POST", "/2/tweets", "503")
    publish_due(wh, connector(server, wh), account(), AT)
    server.state.revoke_after(posts=0)  # the timeline cannot be read any more
    publish_due(wh, connector(server, wh), account(), AT + timedelta(minutes=10))
    with wh.connect() as conn:
        assert not conn.fetchall("select alert_id from act.alerts")  # too early to worry
    publish_due(wh, connector(server, wh), account(), AT + SETTLE_AFTER + timedelta(minutes=1))
    assert states(wh)["d0"][0] == "publishing"  # not known either way: never failed or re-sent blindly
    with wh.connect() as conn:
        [(alert_id, error)] = conn.fetchall("select alert_id, error from act.alerts")
    assert alert_id == "publish_unsettled:d0" and "cannot be read" in error
    assert [r.method for r in server.state.requests].count("POST") == 3


def test_a_batch_is_claimed_in_one_transaction_and_recorded_in_one(server, pg_url):
    """PostgreSQL stamps each row with the transaction that last wrote it (xmin): the two posts the hourly cap lets
    out and the link skipped before them carry one stamp, their claim another."""
    wh = Warehouse.from_url(pg_url)
    wh.migrate()
    queue_posts(wh, {"text": "One"}, {"text": "Read https://example.com"}, {"text": "Two"})
    with wh.connect() as conn:
        queued = conn.scalar("select count(distinct xmin::text) from raw.posts")
    report = publish_due(wh, connector(server, wh), account(), AT)
    assert sorted(report.published) == ["d0", "d2"] and len(server.state.posts) == 2
    with wh.connect() as conn:
        stamps = conn.fetchall("select status, xmin::text from raw.posts order by decision_id")
    assert [s for s, _ in stamps] == ["posted", "skipped", "posted"] and queued == 1
    assert len({x for _, x in stamps}) == 1


def test_a_run_that_dies_half_way_keeps_what_went_out_and_requeues_the_rest(server, wh):
    """The worker dies while the platform has the first post of a batch: that one stays 'publishing' (it may be on
    X) and is settled from the platform later; the second, never handed over, goes back to the queue."""
    queue_posts(wh, {"text": "Handed over, then the worker died"}, {"text": "Never handed over"})
    real = connector(server, wh)

    class DiesOnTheFirstPost:
        def __getattr__(self, name):
            return getattr(real, name)

        def publish(self, publication, now):
            raise SystemExit("the worker was killed")

    with pytest.raises(SystemExit):
        publish_due(wh, DiesOnTheFirstPost(), account(), AT)
    got = states(wh)
    assert got["d0"][0] == "publishing" and got["d1"][:2] == ("queued", f"not sent at {AT}: the run stopped before it")
    later = AT + SETTLE_AFTER + timedelta(minutes=1)
    report = publish_due(wh, connector(server, wh), account(), later)
    got = states(wh)
    assert got["d0"][0] == "failed" and "not sent again" in got["d0"][1]
    assert report.published == ["d1"] and [p.text for p in server.state.posts.values()] == ["Never handed over"]
