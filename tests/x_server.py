"""A local X API v2 server for the tests (127.0.0.1 only): the documented wire formats, with state and faults.

It keeps accounts, posts and their counters, checks every request's OAuth 1.0a signature the way X does (RFC 5849
HMAC-SHA1 over method, URL and query, with the consumer and token secrets) or an OAuth 2.0 Bearer token, answers in
either field-name dialect ('classic': tweet.fields / retweet_count / tweet_count; 'new': post.fields /
repost_count / post_count) and sends the x-rate-limit-* headers on every response. Faults are queued per route and
consumed by the next matching request: 429 with a 15-minute reset, 429 with a spent 24-hour cap, 402, 503, 401,
403, a connection dropped after the post was created, a connection dropped before anything happened, a slow answer
(which still creates the post, after the client gave up). `revoke_after(posts=n)` rejects the token (401 on every
request) once n more posts were created: a token revoked mid-run. `wait_idle()` waits until no request is being
answered, so a test counts the posts a slow answer creates late.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

from oauthlib.oauth1.rfc5849 import signature

from xbot_assets.ingest.parse import snowflake_id

CONSUMER_KEY, CONSUMER_SECRET = "test-consumer-key", "test-consumer-secret"
ACCESS_TOKEN, ACCESS_SECRET = "test-access-token", "test-access-secret"


@dataclass
class FakePost:
    id: str
    text: str
    author_id: str
    created_at: datetime
    in_reply_to: str | None = None
    metrics: dict[str, int] = field(default_factory=lambda: {
        "impressions": 0, "likes": 0, "retweets": 0, "replies": 0, "quotes": 0, "bookmarks": 0,
        "profile_clicks": 0, "url_clicks": 0, "follows": 0})


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    body: dict | None
    authorized: bool
    authorization: str


class XState:
    def __init__(self, dialect: str = "classic"):
        self.dialect = dialect
        self.lock = threading.Lock()
        self.me = {"id": "2244994945", "username": "xbot_test", "name": "xbot test", "followers": 1000,
                   "following": 10, "listed": 1}
        self.posts: dict[str, FakePost] = {}
        self.others: list[FakePost] = []  # other accounts' posts, for search
        self.users: dict[str, str] = {}
        self.faults: dict[tuple[str, str], deque] = {}
        self.requests: list[Request] = []
        self.analytics_allowed = True
        self.bearer_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.dead_refresh_tokens: set[str] = set()
        self.token_requests: list[dict] = []
        self.token_revoked = False  # every request answers 401 while set (the user revoked the app's access)
        self._revoke_after: int | None = None
        self.in_flight = 0  # requests being answered now
        # None: either field-parameter name is accepted; "post.fields" or "tweet.fields": only that one.
        self.fields_param: str | None = None
        self._sequence = 0
        # The platform's clock (posts' creation times and ids); a test on simulated time sets it.
        self.clock = lambda: datetime.now(UTC).replace(tzinfo=None)

    def fault(self, method: str, path: str, kind: str, **extra) -> None:
        self.faults.setdefault((method, path), deque()).append({"kind": kind, **extra})

    def next_fault(self, method: str, path: str) -> dict | None:
        queue = self.faults.get((method, path))
        return queue.popleft() if queue else None

    def revoke_after(self, posts: int) -> None:
        """The token is rejected (401 on every request) once `posts` more posts were created."""
        self._revoke_after = posts
        self.token_revoked = posts <= 0

    def texts(self) -> dict[str, int]:
        """How many posts the account has of each text (a text twice is a double post)."""
        return Counter(post.text for post in self.posts.values())

    def new_id(self) -> str:
        self._sequence += 1
        return snowflake_id(self.clock(), self._sequence)

    def create(self, text: str, in_reply_to: str | None = None) -> FakePost:
        post = FakePost(self.new_id(), text, self.me["id"], self.clock(), in_reply_to)
        self.posts[post.id] = post
        if self._revoke_after is not None:
            self._revoke_after -= 1
            self.token_revoked = self._revoke_after <= 0
        return post

    # -- wire shapes -----------------------------------------------------------------------------------------

    def public_metrics(self, post: FakePost) -> dict:
        m = post.metrics
        reposts = "retweet_count" if self.dialect == "classic" else "repost_count"
        return {reposts: m["retweets"], "reply_count": m["replies"], "like_count": m["likes"],
                "quote_count": m["quotes"], "bookmark_count": m["bookmarks"], "impression_count": m["impressions"]}

    def post_object(self, post: FakePost, fields: set[str], owned: bool) -> dict:
        item = {"id": post.id, "text": post.text.replace("&", "&amp;"), "edit_history_tweet_ids": [post.id]}
        if "created_at" in fields:
            item["created_at"] = post.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if "author_id" in fields:
            item["author_id"] = post.author_id
        if "public_metrics" in fields:
            item["public_metrics"] = self.public_metrics(post)
        young = (self.clock() - post.created_at).days < 30
        if owned and young and "non_public_metrics" in fields:
            m = post.metrics
            item["non_public_metrics"] = {"impression_count": m["impressions"], "url_link_clicks": m["url_clicks"],
                                          "user_profile_clicks": m["profile_clicks"],
                                          "engagements": m["likes"] + m["retweets"] + m["replies"]}
        if owned and young and "organic_metrics" in fields:
            m = post.metrics
            item["organic_metrics"] = {"impression_count": m["impressions"], "like_count": m["likes"],
                                       "reply_count": m["replies"], "retweet_count": m["retweets"],
                                       "url_link_clicks": m["url_clicks"], "user_profile_clicks": m["profile_clicks"]}
        if "referenced_tweets" in fields and post.in_reply_to:
            item["referenced_tweets"] = [{"type": "replied_to", "id": post.in_reply_to}]
        return item

    def user_object(self) -> dict:
        posts = "tweet_count" if self.dialect == "classic" else "post_count"
        return {"id": self.me["id"], "name": self.me["name"], "username": self.me["username"],
                "public_metrics": {"followers_count": self.me["followers"], "following_count": self.me["following"],
                                   posts: len(self.posts), "listed_count": self.me["listed"]}}


def _verify_oauth1(method: str, url: str, authorization: str) -> bool:
    if not authorization.startswith("OAuth "):
        return False
    params = dict(signature.collect_parameters(headers={"Authorization": authorization}, exclude_oauth_signature=False))
    if params.get("oauth_consumer_key") != CONSUMER_KEY or params.get("oauth_token") != ACCESS_TOKEN:
        return False
    if params.get("oauth_signature_method") != "HMAC-SHA1":
        return False
    query = urlsplit(url).query
    collected = signature.collect_parameters(uri_query=query, headers={"Authorization": authorization},
                                             exclude_oauth_signature=True)
    base = signature.signature_base_string(method, signature.base_string_uri(url),
                                           signature.normalize_parameters(collected))
    secrets = SimpleNamespace(client_secret=CONSUMER_SECRET, resource_owner_secret=ACCESS_SECRET)
    expected = signature.sign_hmac_sha1_with_client(base, secrets)
    return signature.safe_string_equals(expected, params.get("oauth_signature", ""))


class _Handler(BaseHTTPRequestHandler):
    server_version = "fake-x/1.0"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    @property
    def state(self) -> XState:
        return self.server.state  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self._counted("GET")

    def do_POST(self) -> None:
        self._counted("POST")

    def _counted(self, method: str) -> None:
        with self.state.lock:
            self.state.in_flight += 1
        try:
            self._handle(method)
        except (BrokenPipeError, ConnectionResetError):  # a slow answer to a client that gave up
            self.close_connection = True
        finally:
            with self.state.lock:
                self.state.in_flight -= 1

    def _send(self, status: int, body: dict | None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.send_header("api-version", "2.167")
        reset = int(time.time()) + 900
        limits = {"x-rate-limit-limit": "900", "x-rate-limit-remaining": "899", "x-rate-limit-reset": str(reset)}
        for name, value in {**limits, **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _handle(self, method: str) -> None:
        state = self.state
        split = urlsplit(self.path)
        path = split.path
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if method == "POST" and path == "/2/oauth2/token":
            return self._token(dict(parse_qsl(raw.decode())), self.headers.get("authorization", ""))
        body = json.loads(raw) if raw else None
        authorization = self.headers.get("authorization", "")
        host = self.headers.get("host", "127.0.0.1")
        url = f"http://{host}{self.path}"
        authorized = not state.token_revoked and (_verify_oauth1(method, url, authorization) or (
            authorization.startswith("Bearer ") and authorization[7:] in state.bearer_tokens))
        route = path
        if path.startswith("/2/users/") and path.endswith("/tweets"):
            route = "/2/users/:id/tweets"
        with state.lock:
            state.requests.append(Request(method, path, params, body, authorized, authorization))
            fault = state.next_fault(method, route)
        if not authorized:
            return self._send(401, {"title": "Unauthorized", "type": "about:blank", "status": 401,
                                    "detail": "Unauthorized"})
        if fault is not None:
            kind = fault["kind"]
            if kind == "drop":
                return self._drop()
            if kind == "slow":
                time.sleep(fault.get("seconds", 2.0))
            elif kind == "429":
                return self._send(429, {"title": "Too Many Requests", "detail": "Too Many Requests",
                                        "type": "about:blank", "status": 429},
                                  {"x-rate-limit-remaining": "0",
                                   "x-rate-limit-reset": str(int(time.time()) + fault.get("reset_in", 1))})
            elif kind == "429_daily":
                reset = str(int(time.time()) + 6 * 3600)
                return self._send(429, {"title": "Too Many Requests", "detail": "Too Many Requests",
                                        "type": "about:blank", "status": 429},
                                  {"x-user-limit-24hour-limit": "100", "x-user-limit-24hour-remaining": "0",
                                   "x-user-limit-24hour-reset": reset})
            elif kind == "402":
                return self._send(402, {"title": "Payment Required", "detail": "Your enrolled account [1] does not "
                                        "have any credits to fulfill this request.", "type": "about:blank",
                                        "status": 402})
            elif kind in ("503", "500"):
                return self._send(int(kind), {"title": "Service Unavailable", "detail": "Service Unavailable",
                                              "type": "about:blank", "status": int(kind)})
            elif kind in ("401", "403"):
                return self._send(int(kind), {"title": "Forbidden", "detail": fault.get("detail", "Forbidden"),
                                              "type": "about:blank", "status": int(kind)})
            elif kind == "drop_after_create" and method == "POST" and path == "/2/tweets":
                with state.lock:
                    state.create(body["text"], (body.get("reply") or {}).get("in_reply_to_tweet_id"))
                return self._drop()
        refused = {"tweet.fields", "post.fields"} - {state.fields_param} if state.fields_param else set()
        if refused & set(params):
            name = (refused & set(params)).pop()
            return self._send(400, {"errors": [{"parameters": {name: [params[name]]},
                                                "message": f"The query parameter [{name}] is not one of [ids,"
                                                           f"{state.fields_param},expansions,user.fields]"}],
                                    "title": "Invalid Request", "detail": "One or more parameters to your request "
                                    "was invalid.", "type": "https://api.twitter.com/2/problems/invalid-request"})
        try:
            status, payload = self._route(method, path, params, body)
        except KeyError as exc:
            status, payload = 400, {"errors": [{"message": f"missing {exc}"}], "title": "Invalid Request",
                                    "detail": "One or more parameters to your request was invalid.",
                                    "type": "https://api.twitter.com/2/problems/invalid-request"}
        self._send(status, payload)

    def _token(self, form: dict[str, str], authorization: str) -> None:
        """POST /2/oauth2/token, grant_type=refresh_token: a new pair; the used refresh token dies, and reusing a
        dead one revokes the whole family (as X is reported to do)."""
        state = self.state
        with state.lock:
            state.token_requests.append(form)
            refresh = form.get("refresh_token")
            client = form.get("client_id") or ("basic" if authorization.startswith("Basic ") else None)
            if form.get("grant_type") != "refresh_token" or not client:
                return self._send(400, {"error": "invalid_request", "error_description": "bad grant"})
            if refresh in state.dead_refresh_tokens or refresh not in state.refresh_tokens:
                state.refresh_tokens.clear()
                state.bearer_tokens.clear()
                return self._send(400, {"error": "invalid_request",
                                        "error_description": "Value passed for the token was invalid."})
            state.refresh_tokens.discard(refresh)
            state.dead_refresh_tokens.add(refresh)
            state._sequence += 1
            access, new_refresh = f"access-{state._sequence}", f"refresh-{state._sequence}"
            state.bearer_tokens.add(access)
            state.refresh_tokens.add(new_refresh)
        self._send(200, {"token_type": "bearer", "expires_in": 7200, "access_token": access,
                         "scope": "tweet.read tweet.write users.read offline.access", "refresh_token": new_refresh})

    def _fields(self, params: dict[str, str]) -> set[str]:
        names = params.get("tweet.fields") or params.get("post.fields") or ""
        return {f for f in names.split(",") if f}

    def _route(self, method: str, path: str, params: dict[str, str], body: dict | None) -> tuple[int, dict]:
        state = self.state
        with state.lock:
            if method == "POST" and path == "/2/tweets":
                if set(body) - {"text", "reply"}:
                    return 400, {"title": "Invalid Request", "detail": f"unexpected keys {sorted(body)}"}
                post = state.create(body["text"], (body.get("reply") or {}).get("in_reply_to_tweet_id"))
                return 201, {"data": {"id": post.id, "text": post.text, "edit_history_tweet_ids": [post.id]}}
            if method == "GET" and path == "/2/users/me":
                return 200, {"data": state.user_object()}
            if method == "GET" and path == "/2/tweets":
                fields = self._fields(params)
                ids = params["ids"].split(",")
                if len(ids) > 100 or not all(i.isdigit() and len(i) <= 19 for i in ids):
                    return 400, {"errors": [{"parameters": {"ids": ids}, "message": "The `ids` query parameter value "
                                             "is not valid (1 to 100 ids matching ^[0-9]{1,19}$)"}],
                                 "title": "Invalid Request", "type": "https://api.twitter.com/2/problems/invalid-request",
                                 "detail": "One or more parameters to your request was invalid."}
                data = [state.post_object(state.posts[i], fields, owned=True) for i in ids if i in state.posts]
                errors = [{"value": i, "detail": f"Could not find tweet with ids: [{i}].", "title": "Not Found Error",
                           "resource_type": "tweet", "parameter": "ids", "resource_id": i,
                           "type": "https://api.twitter.com/2/problems/resource-not-found"}
                          for i in ids if i not in state.posts]
                return 200, {"data": data, **({"errors": errors} if errors else {})}
            if method == "GET" and path == "/2/tweets/analytics":
                if not state.analytics_allowed:
                    return 403, {"title": "Forbidden", "type": "about:blank", "status": 403,
                                 "detail": "Your client app is not permitted to access this endpoint."}
                for required in ("ids", "start_time", "end_time"):
                    params[required]
                names = set(params.get("analytics.fields", "").split(","))
                data = []
                for i in params["ids"].split(","):
                    if i in state.posts:
                        m = state.posts[i].metrics
                        metrics = {"follows": m["follows"], "user_profile_clicks": m["profile_clicks"],
                                   "url_clicks": m["url_clicks"], "impressions": m["impressions"]}
                        data.append({"id": i, "timestamped_metrics": [{
                            "timestamp": params["start_time"],
                            "metrics": {k: v for k, v in metrics.items() if k in names}}]})
                return 200, {"data": data}
            if method == "GET" and path.startswith("/2/users/") and path.endswith("/tweets"):
                fields = self._fields(params)
                since = params.get("start_time")
                start = datetime.fromisoformat(since.replace("Z", "+00:00")).replace(tzinfo=None) if since else None
                mine = sorted((p for p in state.posts.values() if start is None or p.created_at >= start),
                              key=lambda p: p.created_at, reverse=True)[: int(params.get("max_results", 10))]
                data = [state.post_object(p, fields, owned=True) for p in mine]
                return 200, {"data": data, "meta": {"result_count": len(data)}} if data else {"meta": {
                    "result_count": 0}}
            if method == "GET" and path == "/2/tweets/search/recent":
                fields = self._fields(params)
                words = [w.lower() for w in params["query"].split() if not w.startswith("-") and ":" not in w]
                hits = [p for p in state.others if all(w in p.text.lower() for w in words)]
                hits = hits[: int(params.get("max_results", 10))]
                data = [state.post_object(p, fields, owned=False) for p in hits]
                users = [{"id": p.author_id, "username": state.users.get(p.author_id, "someone")} for p in hits]
                return 200, {"data": data, "includes": {"users": users}, "meta": {"result_count": len(data)}}
        return 404, {"title": "Not Found", "detail": f"no route {method} {path}", "type": "about:blank"}


class FakeXServer:
    def __init__(self, dialect: str = "classic"):
        self.state = XState(dialect)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.state = self.state  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Until no request is being answered (a slow answer has created its post), at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.state.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)

    def __enter__(self) -> FakeXServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
