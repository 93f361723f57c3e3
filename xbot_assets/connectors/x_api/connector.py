"""The X API v2 connector (`x-api`): publish, collect metrics, read followers, find a published post, search.

Behind the same interface as the simulator connector. What it returns goes through the validated raw writers like
any import; what X answered is in the cost ledger (`act.api_calls`) with its raw JSON.

- Publish: `POST /2/tweets`; a thread is a reply chain (`reply.in_reply_to_tweet_id`). When a send's outcome is
  unknown (dropped connection, 5xx) the account's recent posts are read (`GET /2/users/:id/tweets`, owned reads at
  $0.001) and matched by text before the post is sent again, so an unknown outcome never becomes a double post. A
  send that timed out is not sent again in the run (X may still be creating it): it is settled from the timeline
  later. A thread refused half-way returns the ids it got, marked incomplete (and `stopped` when the account can
  send nothing more); a part whose outcome stays unknown raises `OutcomeUnknown` with the ids of the parts before.
- Metrics: `GET /2/tweets?ids=` (≤ 100): public metrics always; non-public metrics (impressions, profile clicks, URL
  clicks) for posts younger than 30 days (X keeps them no longer); per-post follows from `GET /2/tweets/analytics`
  while the account's access allows it (a 401/403 turns that read off for the connector, with a note).
- Followers: `GET /2/users/me?user.fields=public_metrics`.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from xbot_assets.clock import WallClock, utc_naive
from xbot_assets.connectors.base import (
    ConnectorError,
    NotSent,
    OutcomeUnknown,
    Publication,
    Published,
    contains_url,
)
from xbot_assets.connectors.ledger import (
    ANALYTICS_READ,
    OWNED_READ,
    POST,
    POST_READ,
    POST_URL,
    USER_READ,
    CallRecord,
)
from xbot_assets.connectors.x_api.client import SendUnknown, XApiClient, XApiError
from xbot_assets.connectors.x_api.wire import (
    WireFormatError,
    analytics_counters,
    created_at,
    follower_count,
    post_counters,
)

PRIVATE_METRICS_DAYS = 30
TWEET_ID = re.compile(r"[0-9]{1,19}")
PUBLIC_FIELDS = "created_at,public_metrics"
PRIVATE_FIELDS = "created_at,public_metrics,non_public_metrics,organic_metrics"
ANALYTICS_FIELDS = "follows,user_profile_clicks,url_clicks,impressions"


def _ids(payload: dict[str, Any]) -> list[str]:
    data = payload.get("data")
    if isinstance(data, dict):
        return [str(data["id"])] if "id" in data else []
    return [str(item["id"]) for item in data or [] if isinstance(item, dict) and "id" in item]


def comparable_text(text: str) -> str:
    """Text as X may echo it back: HTML entities unescaped, links shortened to t.co, whitespace collapsed."""
    text = html.unescape(text or "")
    text = re.sub(r"https?://\S+", "<link>", text)
    return " ".join(text.split())


class XApiConnector:
    source = "real"

    def __init__(self, client: XApiClient, account_id: str, *, analytics: bool = True, publish_attempts: int = 3,
                 reconcile_delay_seconds: float = 5.0, sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.account_id = account_id
        self.analytics = analytics
        self.publish_attempts = publish_attempts
        self.reconcile_delay_seconds = reconcile_delay_seconds
        self.sleep = sleep
        self.notes: list[str] = []
        self.fields_param = "tweet.fields"
        self._me: dict[str, Any] | None = None

    # -- reads that name post fields ----------------------------------------------------------------------------

    def _read_posts(self, path: str, params: dict[str, Any], price_kind: str, max_resources: int,
                    budget_exempt: bool = False) -> dict[str, Any]:
        """A read with the post-fields parameter under the name this server accepts: `tweet.fields` (the
        documented one) first; if the server refuses that name, `post.fields` (spec v2.167) from then on."""
        fields = params.pop("fields")
        for attempt in range(2):
            try:
                return self.client.request("GET", path, price_kind=price_kind, max_resources=max_resources,
                                           params={**params, self.fields_param: fields}, resource_ids=_ids,
                                           budget_exempt=budget_exempt)
            except XApiError as exc:
                if attempt or exc.status != 400 or self.fields_param not in str(exc):
                    raise
                other = "post.fields" if self.fields_param == "tweet.fields" else "tweet.fields"
                self.notes.append(f"the server refused {self.fields_param}; using {other}")
                self.fields_param = other
        raise AssertionError("unreachable")

    # -- the account ---------------------------------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        payload = self.client.request("GET", "/2/users/me", price_kind=USER_READ,
                                      params={"user.fields": "public_metrics"}, resource_ids=_ids)
        user = payload.get("data")
        if not isinstance(user, dict) or "id" not in user:
            raise WireFormatError("GET /2/users/me returned no user")
        self._me = user
        return user

    def user_id(self) -> str:
        return str((self._me or self.me())["id"])

    def read_followers(self, now: datetime) -> int:
        return follower_count(self.me())

    # -- publishing ----------------------------------------------------------------------------------------------

    def publish(self, post: Publication, now: datetime) -> Published:
        parts = post.thread_parts if post.is_thread else (post.text,)
        # The timeline is searched from the earlier of the run's clock and the wall clock: a platform on either
        # (X on the wall clock, a simulated run's server on the run's) shows a post it created after that.
        started = min(utc_naive(now), WallClock().now())
        ids: list[str] = []
        first_at: datetime | None = None
        for index, part in enumerate(parts):
            body: dict[str, Any] = {"text": part}
            if ids:
                body["reply"] = {"in_reply_to_tweet_id": ids[-1]}
            try:
                tweet_id, at = self._create(body, started)
            except ConnectorError as exc:
                if not ids:
                    raise
                if isinstance(exc, OutcomeUnknown):  # part index+1 may exist: settled from the timeline later
                    raise OutcomeUnknown(f"thread part {index + 1} of {len(parts)}: {exc}", tuple(ids)) from exc
                return Published(ids[0], first_at or utc_naive(now), thread_tweet_ids=tuple(ids),
                                 incomplete=f"thread stopped after part {index} of {len(parts)}: {exc}",
                                 stopped=str(exc) if isinstance(exc, NotSent) and exc.stop else None)
            ids.append(tweet_id)
            first_at = first_at or at
        return Published(ids[0], first_at or utc_naive(now), thread_tweet_ids=tuple(ids) if len(ids) > 1 else ())

    def _create(self, body: dict[str, Any], since: datetime) -> tuple[str, datetime]:
        kind = POST_URL if contains_url(body["text"]) else POST
        last: Exception | None = None
        for _attempt in range(self.publish_attempts):
            try:
                payload = self.client.request("POST", "/2/tweets", price_kind=kind, body=body, resource_ids=_ids)
            except SendUnknown as exc:
                last = exc
                found = self._reconcile(body, since, kind, exc)
                if found is not None:
                    return found
                if exc.in_flight:  # X had the request when we gave up: it may still create the post
                    raise OutcomeUnknown(f"the send timed out while X was answering ({exc}) and the post is not on "
                                         "the timeline yet; not sent again, settled from the timeline later") from exc
                continue
            except XApiError as exc:
                if last is not None and exc.status == 403 and "duplicate" in str(exc).lower():
                    # X refuses the same text twice: the earlier, unanswered send did create it
                    raise OutcomeUnknown(f"X calls the resend a duplicate after an unknown outcome ({last}); the "
                                         "post exists but is not on the timeline yet") from exc
                raise
            data = payload.get("data") or {}
            if "id" not in data:
                raise OutcomeUnknown(f"POST /2/tweets answered {payload.get('data')!r} without an id: the post may "
                                     "exist")
            return str(data["id"]), created_at(data) or WallClock().now()
        raise OutcomeUnknown(f"publish outcome unknown after {self.publish_attempts} attempts and not found on the "
                             f"account's timeline: {last}")

    def _reconcile(self, body: dict[str, Any], since: datetime, kind: str,
                   unknown: Exception) -> tuple[str, datetime] | None:
        """After a send with no answer: the post if the timeline shows it (charged as the write it was)."""
        # X may take a moment to show a post it created; reading too early would send it twice.
        self.sleep(self.reconcile_delay_seconds)
        try:
            found = self._find_text(body["text"], since - timedelta(minutes=1),
                                    (body.get("reply") or {}).get("in_reply_to_tweet_id"))
        except ConnectorError as exc:  # cannot tell: never send again blindly
            raise OutcomeUnknown(f"a send had no answer ({unknown}) and the timeline could not be read ({exc})") \
                from exc
        if found is not None:
            self.notes.append(f"reconciled an unknown outcome ({unknown}): found {found[0]} on the timeline")
            self._charge_found(kind, found[0])
        return found

    def _charge_found(self, kind: str, tweet_id: str) -> None:
        self.client.ledger.record(CallRecord(
            method="POST", endpoint="/2/tweets", started_at=WallClock().now(), price_kind=kind,
            status_code=201, resource_ids=[tweet_id], error="answer lost; the post was found on the timeline"))

    def find_published(self, post: Publication, since: datetime) -> Published | None:
        """The post, if the account's timeline shows it since `since` (naive UTC): used for a crashed publish. A
        thread is followed part by part down its reply chain; parts not found are named, never sent. Parts the
        publish already got ids for (`known_tweet_ids`) are taken as they are: read and charged once."""
        parts = post.thread_parts if post.is_thread else (post.text,)
        ids: list[str] = list(post.known_tweet_ids[:len(parts)])
        first_at: datetime | None = created_at({"id": ids[0]}) if ids else None
        for part in parts[len(ids):]:
            found = self._find_text(part, since, ids[-1] if ids else None)
            if found is None:
                break
            self._charge_found(POST_URL if contains_url(part) else POST, found[0])
            ids.append(found[0])
            first_at = first_at or found[1]
        if not ids:
            return None
        incomplete = None if len(ids) == len(parts) else \
            f"thread settled with {len(ids)} of {len(parts)} parts on the platform; the rest were not sent"
        return Published(ids[0], first_at, thread_tweet_ids=tuple(ids) if len(parts) > 1 else (),
                         incomplete=incomplete)

    def _find_text(self, text: str, since: datetime, in_reply_to: str | None = None) -> tuple[str, datetime] | None:
        payload = self._read_posts(
            f"/2/users/{self.user_id()}/tweets", {"max_results": 100, "start_time": since.strftime(
                "%Y-%m-%dT%H:%M:%SZ"), "fields": "created_at,referenced_tweets"}, OWNED_READ, 100,
            budget_exempt=True)
        wanted = comparable_text(text)
        for item in payload.get("data") or []:
            if comparable_text(item.get("text", "")) != wanted:
                continue
            if in_reply_to is not None:
                replied = [r.get("id") for r in item.get("referenced_tweets") or [] if r.get("type") == "replied_to"]
                if replied and str(replied[0]) != str(in_reply_to):
                    continue
            return str(item["id"]), created_at(item) or since
        return None

    # -- metrics -------------------------------------------------------------------------------------------------

    def collect_metrics(self, tweet_ids: Sequence[str], now: datetime) -> dict[str, dict[str, int | None]]:
        wall = utc_naive(now)  # the run's clock: the wall clock in production
        young, old = [], []
        unknown = [str(i) for i in tweet_ids if not TWEET_ID.fullmatch(str(i))]
        if unknown:  # X refuses a whole request over one malformed id; such a post was never published there
            self.notes.append(f"not X post ids, not read: {', '.join(unknown[:5])}" + (" …" if len(unknown) > 5
                                                                                          else ""))
        for tweet_id in (str(i) for i in tweet_ids if TWEET_ID.fullmatch(str(i))):
            born = created_at({"id": tweet_id})
            (young if born is not None and wall - born < timedelta(days=PRIVATE_METRICS_DAYS) else old).append(
                str(tweet_id))
        found: dict[str, dict[str, int | None]] = {}
        for ids, fields in ((young, PRIVATE_FIELDS), (old, PUBLIC_FIELDS)):
            for start in range(0, len(ids), 100):
                batch = ids[start:start + 100]
                payload = self._read_posts("/2/tweets", {"ids": ",".join(batch), "fields": fields}, POST_READ,
                                           len(batch))
                for item in payload.get("data") or []:
                    found[str(item["id"])] = post_counters(item)
        if self.analytics and young:
            self._add_analytics(found, [i for i in young if i in found], wall)
        return found

    def _add_analytics(self, found: dict[str, dict[str, int | None]], ids: list[str], wall: datetime) -> None:
        for start in range(0, len(ids), 100):
            batch = ids[start:start + 100]
            oldest = min(created_at({"id": i}) for i in batch)
            try:
                payload = self.client.request(
                    "GET", "/2/tweets/analytics", price_kind=ANALYTICS_READ, max_resources=len(batch),
                    params={"ids": ",".join(batch), "start_time": oldest.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "end_time": wall.strftime("%Y-%m-%dT%H:%M:%SZ"), "granularity": "total",
                            "analytics.fields": ANALYTICS_FIELDS},
                    resource_ids=_ids)
            except XApiError as exc:  # a spent cap or credits (NotSent) stop the read; a 401 here is this endpoint's
                if exc.status in (401, 403):
                    self.analytics = False
                    self.notes.append(f"per-post analytics not available to this account ({exc}); follows are "
                                      "attributed from the follower count instead")
                else:  # the counters already read stand; follows wait for the next read
                    self.notes.append(f"per-post analytics not read this time ({exc})")
                return
            for item in payload.get("data") or []:
                try:
                    counters = analytics_counters(item)
                except WireFormatError as exc:
                    self.notes.append(f"analytics of {item.get('id')} unreadable ({exc})")
                    continue
                target = found.get(str(item.get("id")))
                if target is None:
                    continue
                target["follows"] = counters["follows"]
                for name in ("profile_clicks", "url_clicks"):
                    if target.get(name) is None:
                        target[name] = counters[name]

    # -- other accounts' posts (prompts only) ---------------------------------------------------------------------

    def search_recent(self, query: str, max_results: int = 100) -> list[dict[str, Any]]:
        """Recent posts matching `query` with their authors' handles (GET /2/tweets/search/recent)."""
        payload = self._read_posts(
            "/2/tweets/search/recent", {"query": query, "max_results": max(10, min(100, max_results)),
                                        "fields": "created_at,public_metrics,author_id", "expansions": "author_id",
                                        "user.fields": "username"}, POST_READ, max_results)
        users = {str(u.get("id")): u.get("username") for u in (payload.get("includes") or {}).get("users", [])}
        posts = []
        for item in payload.get("data") or []:
            posts.append({"id": str(item["id"]), "text": item.get("text", ""),
                          "author_handle": users.get(str(item.get("author_id"))), "created_at": created_at(item),
                          **post_counters(item)})
        return posts

