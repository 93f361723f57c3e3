"""The X API connector against a local X API server (tests/x_server.py, 127.0.0.1 only) that speaks the documented
wire formats: both dialects, OAuth 1.0a signatures checked, rate-limit headers, 429/402/503 and dropped connections.
Never a mock of the connector: every byte crosses a real socket."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from x_server import ACCESS_SECRET, ACCESS_TOKEN, CONSUMER_KEY, CONSUMER_SECRET, FakeXServer

from xbot_assets.connectors.base import NotSent, OutcomeUnknown, Publication
from xbot_assets.connectors.ledger import ApiLedger, BudgetExceeded
from xbot_assets.connectors.x_api.auth import OAuth1Credentials
from xbot_assets.connectors.x_api.client import (
    CreditsExhausted,
    RateLimited,
    TokenRejected,
    XApiClient,
    XApiError,
)
from xbot_assets.connectors.x_api.connector import XApiConnector
from xbot_assets.warehouse.connection import Warehouse

NOW = datetime(2026, 12, 1, 12, 0)
CREDENTIALS = OAuth1Credentials(CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_SECRET)


@pytest.fixture(params=["classic", "new"])
def server(request):
    with FakeXServer(dialect=request.param) as fake:
        yield fake


@pytest.fixture
def warehouse(duckdb_url) -> Warehouse:
    wh = Warehouse.from_url(duckdb_url)
    wh.migrate()
    return wh


def make(server, warehouse, *, budget=None, credentials=CREDENTIALS, read_timeout=2.0, analytics=True):
    ledger = ApiLedger(warehouse, "main", "x-api", monthly_budget=budget)
    client = XApiClient(credentials.auth(), ledger, base_url=server.url, read_timeout=read_timeout,
                        max_attempts=3, max_wait_seconds=5, sleep=lambda s: None)
    return XApiConnector(client, "main", analytics=analytics, reconcile_delay_seconds=0)


def post(text="Sleep is a skill: 7 hours, same time every night.", parts=()):
    return Publication("d-1", text, tuple(parts), "wellness_tip", "coach", 0.8)


def calls(warehouse) -> list[tuple]:
    with warehouse.connect() as conn:
        return conn.fetchall("select method, endpoint, status_code, price_kind, resources, cost_usd, error "
                             "from act.api_calls order by started_at, call_id")


def test_publish_signs_with_oauth1_and_records_the_cost(server, warehouse):
    connector = make(server, warehouse)
    published = connector.publish(post(), NOW)
    assert published.tweet_id in server.state.posts
    sent = [r for r in server.state.requests if r.method == "POST"]
    assert len(sent) == 1 and sent[0].authorized and sent[0].body == {"text": post().text}
    assert sent[0].authorization.startswith("OAuth ") and "oauth_signature=" in sent[0].authorization
    [(method, endpoint, status, kind, _, cost, _)] = calls(warehouse)
    assert (method, endpoint, status, kind, cost) == ("POST", "/2/tweets", 201, "post", 0.015)
    with warehouse.connect() as conn:
        raw = conn.scalar("select response_json from act.api_calls")
    assert published.tweet_id in raw  # the raw JSON of the response is kept for audit


def test_wrong_secret_is_refused_by_the_signature_check(server, warehouse):
    bad = OAuth1Credentials(CONSUMER_KEY, "not-the-secret", ACCESS_TOKEN, ACCESS_SECRET)
    with pytest.raises(XApiError, match="401"):
        make(server, warehouse, credentials=bad).publish(post(), NOW)
    assert not server.state.posts


def test_a_post_with_a_link_is_priced_as_one(server, warehouse):
    make(server, warehouse).publish(post("Our sleep guide: https://example.com/sleep"), NOW)
    assert calls(warehouse)[0][3:6:2] == ("post_url", 0.2)


def test_thread_is_a_reply_chain(server, warehouse):
    published = make(server, warehouse).publish(post("one", ("one", "two", "three")), NOW)
    ids = published.thread_tweet_ids
    assert len(ids) == 3 and published.tweet_id == ids[0] and published.incomplete is None
    assert server.state.posts[ids[1]].in_reply_to == ids[0] and server.state.posts[ids[2]].in_reply_to == ids[1]


def test_thread_failing_half_way_keeps_its_ids(server, warehouse):
    connector = make(server, warehouse)
    server.state.fault("POST", "/2/tweets", "none")  # the first part goes through
    server.state.fault("POST", "/2/tweets", "402")
    published = connector.publish(post("one", ("one", "two", "three")), NOW)
    assert published.thread_tweet_ids == (published.tweet_id,)
    assert "stopped after part 1 of 3" in published.incomplete and "402" in published.incomplete
    assert len(server.state.posts) == 1


def test_connection_dropped_after_the_post_was_created_is_reconciled_not_resent(server, warehouse):
    connector = make(server, warehouse)
    server.state.fault("POST", "/2/tweets", "drop_after_create")
    published = connector.publish(post("Tea after 2 pm costs you deep sleep & focus."), NOW)
    assert len(server.state.posts) == 1  # never a double post
    assert published.tweet_id in server.state.posts
    assert any("reconciled" in n for n in connector.notes)
    kinds = [(c[3], c[5]) for c in calls(warehouse)]
    # the send (its answer lost), who am I, the timeline read, and the write charged once it was found
    assert kinds == [("post", 0.0), ("user_read", 0.01), ("owned_read", 0.001), ("post", 0.015)]


def test_an_unreadable_timeline_after_a_lost_answer_is_unknown_not_failed(server, warehouse):
    connector = make(server, warehouse)
    server.state.fault("POST", "/2/tweets", "drop_after_create")
    for _ in range(3):
        server.state.fault("GET", "/2/users/:id/tweets", "503")
    with pytest.raises(OutcomeUnknown, match="timeline could not be read"):
        connector.publish(post(), NOW)
    assert len(server.state.posts) == 1  # it exists; nothing was sent twice


def test_the_settling_read_is_never_refused_by_the_budget(server, warehouse):
    connector = make(server, warehouse, budget=0.03)
    server.state.fault("POST", "/2/tweets", "drop_after_create")
    published = connector.publish(post(), NOW)
    assert list(server.state.posts) == [published.tweet_id]


def test_repeated_429_on_a_post_is_not_sent_not_failed(server, warehouse):
    connector = make(server, warehouse)
    for _ in range(3):
        server.state.fault("POST", "/2/tweets", "429", reset_in=1)
    with pytest.raises(RateLimited) as caught:
        connector.publish(post(), NOW)
    assert isinstance(caught.value, NotSent) and not server.state.posts


def test_a_crashed_thread_is_settled_part_by_part(server, warehouse):
    connector = make(server, warehouse)
    first = server.state.create("one")
    server.state.create("two", in_reply_to=first.id)
    found = connector.find_published(post("one", ("one", "two", "three")), NOW - timedelta(hours=1))
    assert found.tweet_id == first.id and len(found.thread_tweet_ids) == 2
    assert "2 of 3 parts" in found.incomplete


def test_analytics_failing_keeps_the_counters_already_read(server, warehouse):
    connector = make(server, warehouse)
    p = server.state.create("a post")
    p.metrics.update(likes=9)
    for _ in range(3):
        server.state.fault("GET", "/2/tweets/analytics", "503")
    found = connector.collect_metrics([p.id], NOW)
    assert found[p.id]["likes"] == 9 and found[p.id]["follows"] is None
    assert any("not read this time" in n for n in connector.notes) and connector.analytics


def test_dropped_before_anything_was_created_is_sent_again_after_checking(server, warehouse):
    connector = make(server, warehouse)
    server.state.fault("POST", "/2/tweets", "drop")
    published = connector.publish(post(), NOW)
    assert list(server.state.posts) == [published.tweet_id]
    assert [r.method for r in server.state.requests if r.path != "/2/users/me"] == ["POST", "GET", "POST"]


def test_a_5xx_after_sending_never_becomes_a_double_post(server, warehouse):
    connector = make(server, warehouse)
    for _ in range(3):
        server.state.fault("POST", "/2/tweets", "503")
    with pytest.raises(OutcomeUnknown, match="not found on the account's timeline"):
        connector.publish(post(), NOW)
    assert not server.state.posts  # the server created nothing and we did not invent a post


def test_a_slow_answer_is_not_sent_again_and_is_found_later(server, warehouse):
    connector = make(server, warehouse, read_timeout=0.3)
    server.state.fault("POST", "/2/tweets", "slow", seconds=1.0)  # answers (and creates) after the client gave up
    with pytest.raises(OutcomeUnknown, match="timed out while X was answering"):
        connector.publish(post(), NOW)
    server.wait_idle()  # the slow answer has created its post by now: sending again would have made two
    assert len(server.state.posts) == 1 and [r.method for r in server.state.requests].count("POST") == 1
    found = connector.find_published(post(), NOW - timedelta(minutes=1))
    assert found is not None and list(server.state.posts) == [found.tweet_id]


def test_a_rejected_token_is_not_sent_and_stops_the_account(server, warehouse):
    server.state.revoke_after(posts=0)
    with pytest.raises(TokenRejected, match="401") as caught:
        make(server, warehouse).publish(post(), NOW)
    assert isinstance(caught.value, NotSent) and caught.value.stop and not server.state.posts
    assert len(server.state.requests) == 1  # never retried


def test_429_waits_for_the_window_then_goes_through(server, warehouse):
    waits = []
    connector = make(server, warehouse)
    connector.client.sleep = waits.append
    server.state.fault("POST", "/2/tweets", "429", reset_in=1)
    connector.publish(post(), NOW)
    assert len(server.state.posts) == 1 and waits and 0 < waits[0] <= 3
    statuses = [c[2] for c in calls(warehouse)]
    assert statuses == [429, 201]


def test_a_spent_24_hour_cap_stops_instead_of_waiting(server, warehouse):
    connector = make(server, warehouse)
    server.state.fault("POST", "/2/tweets", "429_daily")
    with pytest.raises(RateLimited) as caught:
        connector.publish(post(), NOW)
    assert caught.value.daily and caught.value.stop and isinstance(caught.value, NotSent)
    assert caught.value.until > datetime.utcnow() + timedelta(hours=5)


def test_402_means_credits_spent_and_is_not_retried(server, warehouse):
    connector = make(server, warehouse)
    server.state.fault("POST", "/2/tweets", "402")
    with pytest.raises(CreditsExhausted, match="credits"):
        connector.publish(post(), NOW)
    assert len([r for r in server.state.requests if r.method == "POST"]) == 1


def test_reads_retry_5xx_and_dropped_connections(server, warehouse):
    connector = make(server, warehouse)
    server.state.fault("GET", "/2/users/me", "503")
    server.state.fault("GET", "/2/users/me", "drop")
    server.state.me["followers"] = 1234
    assert connector.read_followers(NOW) == 1234
    assert [c[2] for c in calls(warehouse)] == [503, None, 200]


def test_metrics_in_both_dialects_with_private_metrics_and_reported_follows(server, warehouse):
    connector = make(server, warehouse)
    a = server.state.create("first post")
    b = server.state.create("second post")
    a.metrics.update(impressions=1500, likes=40, retweets=7, replies=3, profile_clicks=25, url_clicks=2, follows=4)
    found = connector.collect_metrics([a.id, b.id, "1234567890123456789"], NOW)
    assert set(found) == {a.id, b.id}  # a deleted or unknown id is left out, never a zero
    assert found[a.id] == {"impressions": 1500, "likes": 40, "retweets": 7, "replies": 3, "quotes": 0,
                           "bookmarks": 0, "profile_clicks": 25, "url_clicks": 2, "follows": 4}
    ids_param = [r.params for r in server.state.requests if r.path == "/2/tweets"][0]
    assert "non_public_metrics" in ids_param["tweet.fields"]
    by_kind: dict[str, list] = {}
    for _, _, _, kind, resources, cost, _ in calls(warehouse):
        by_kind.setdefault(kind, [0, 0.0])
        by_kind[kind][0] += resources
        by_kind[kind][1] += cost
    assert by_kind["post_read"] == [2, pytest.approx(0.010)]  # two posts returned, at $0.005 each
    assert by_kind["analytics_read"] == [2, pytest.approx(0.010)]


@pytest.mark.parametrize("accepted", ["post.fields", "tweet.fields"])
def test_the_field_parameter_name_the_server_accepts_is_used(server, warehouse, accepted):
    server.state.fields_param = accepted
    connector = make(server, warehouse, analytics=False)
    p = server.state.create("a post")
    p.metrics.update(likes=3)
    assert connector.collect_metrics([p.id], NOW)[p.id]["likes"] == 3
    assert connector.collect_metrics([p.id], NOW)[p.id]["likes"] == 3
    sent = [r.params for r in server.state.requests if r.path == "/2/tweets"]
    assert accepted in sent[-1] and connector.fields_param == accepted
    assert len(sent) == (3 if accepted == "post.fields" else 2)  # one refusal, then the accepted name sticks


def test_ids_that_are_not_x_ids_are_not_sent(server, warehouse):
    connector = make(server, warehouse, analytics=False)
    real = server.state.create("a post")
    found = connector.collect_metrics([real.id, "main-sim-0007"], NOW)  # an imported post X never had
    assert list(found) == [real.id]
    assert any("main-sim-0007" in n for n in connector.notes)
    assert [c[2] for c in calls(warehouse)] == [200]


def test_reads_are_charged_once_a_day(server, warehouse):
    connector = make(server, warehouse, analytics=False)
    post_ = server.state.create("a post")
    connector.collect_metrics([post_.id], NOW)
    connector.collect_metrics([post_.id], NOW)
    assert [c[5] for c in calls(warehouse)] == [pytest.approx(0.005), 0.0]


def test_old_posts_get_public_metrics_only(server, warehouse):
    connector = make(server, warehouse, analytics=False)
    old = server.state.create("an old post")
    old.created_at -= timedelta(days=40)
    server.state.posts.pop(old.id)
    old.id = str(int(old.id) - (40 * 86400 * 1000 << 22))  # its id says when it was made
    server.state.posts[old.id] = old
    old.metrics.update(impressions=900, likes=10, profile_clicks=9)
    found = connector.collect_metrics([old.id], NOW)
    assert found[old.id]["impressions"] == 900 and found[old.id]["profile_clicks"] is None
    assert "non_public_metrics" not in [r.params for r in server.state.requests if r.path == "/2/tweets"][0][
        "tweet.fields"]


def test_analytics_refused_turns_it_off_with_a_note(server, warehouse):
    connector = make(server, warehouse)
    server.state.analytics_allowed = False
    p = server.state.create("a post")
    found = connector.collect_metrics([p.id], NOW)
    assert found[p.id]["follows"] is None and not connector.analytics
    assert any("not available" in n for n in connector.notes)


def test_budget_stops_a_call_before_it_is_made(server, warehouse):
    connector = make(server, warehouse, budget=0.02)
    connector.publish(post("first"), NOW)
    with pytest.raises(BudgetExceeded, match="monthly budget"):
        connector.publish(post("second"), NOW)
    assert len(server.state.posts) == 1
    assert len([r for r in server.state.requests if r.method == "POST"]) == 1


def test_search_returns_other_accounts_posts_with_handles(server, warehouse):
    from x_server import FakePost

    server.state.users["42"] = "sleepdoc"
    hit = FakePost("1900000000000000001", "Sleep debt is real", "42", datetime(2026, 11, 30, 8))
    hit.metrics.update(likes=900, impressions=50000, retweets=80, replies=12)
    server.state.others.append(hit)
    server.state.others.append(FakePost("1900000000000000002", "Cats", "42", datetime(2026, 11, 30, 9)))
    found = make(server, warehouse).search_recent("sleep", 10)
    assert [(p["id"], p["author_handle"], p["likes"]) for p in found] == [(hit.id, "sleepdoc", 900)]


def test_secrets_never_reach_the_ledger(server, warehouse):
    connector = make(server, warehouse)
    connector.publish(post(), NOW)
    connector.read_followers(NOW)
    with warehouse.connect() as conn:
        text = " ".join(str(v) for row in conn.fetchall("select * from act.api_calls") for v in row)
    for secret in (CONSUMER_SECRET, ACCESS_SECRET, ACCESS_TOKEN, CONSUMER_KEY):
        assert secret not in text
    assert "hidden" in repr(CREDENTIALS) and CONSUMER_SECRET not in repr(CREDENTIALS)


def test_an_oauth2_refresh_x_refuses_after_a_401_is_a_rejected_token_with_its_ledger_row(duckdb_url, tmp_path,
                                                                                          monkeypatch):
    from test_x_oauth2 import connector as oauth2_connector
    from test_x_oauth2 import credentials as oauth2_credentials

    from xbot_assets.connectors.x_api.oauth2 import TokenStore

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the local server is plain http
    with FakeXServer() as fake:
        creds = oauth2_credentials(fake, tmp_path)
        TokenStore(creds.token_file).store({"access_token": "revoked", "refresh_token": "dead", "expires_in": 7200})
        connector = oauth2_connector(fake, duckdb_url, creds)
        with pytest.raises(TokenRejected, match="refused to refresh") as caught:
            connector.publish(post(), NOW)
        assert caught.value.stop and not fake.state.posts
        [(method, endpoint, status, _, _, cost, error)] = calls(connector.client.ledger.warehouse)
    assert (method, endpoint, status, cost) == ("POST", "/2/tweets", 401, 0.0) and "refresh" in error
