"""The HTTP client of the X API v2: signed requests with explicit timeouts, the rate-limit headers read on every
response, bounded retries, and every call written to the cost ledger with its raw JSON.

Signing is not ours: OAuth 1.0a user context is `requests-oauthlib`'s `OAuth1` (oauthlib computes the HMAC-SHA1
signature over the method, URL and query; a JSON body is not part of an OAuth 1.0a signature), an OAuth 2.0 user
token is a Bearer header (`oauth2.py` refreshes it). Retries are tenacity's.

What each answer means:
- 2xx: the JSON body.
- 429 with a 15-minute window: wait until `x-rate-limit-reset` (at most `max_wait_seconds`), then retry.
- 429 with a 24-hour cap spent (`x-user-limit-24hour-remaining` or `x-app-limit-24hour-remaining` = 0): no waiting
  for hours inside a run; `RateLimited(daily=True)` says until when.
- 402: the account's credits are spent: `CreditsExhausted`, never retried.
- 401: X rejects the credentials (a revoked or expired token, an OAuth 2.0 refresh X refused): `TokenRejected`,
  never retried; nothing was created, and the account can send nothing until the operator authorizes it again.
- 5xx, timeouts and dropped connections: a read is retried with jittered exponential back-off (at most
  `max_attempts` tries); a write is not, because the post may exist: `SendUnknown`, and the connector reconciles
  (a 429 on a write is retried after the wait: X refused it, so nothing was created). A write that timed out while
  X was answering is `in_flight`: X may still create the post after we gave up.
- any other 4xx: `XApiError` with X's problem text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from xbot_assets.clock import WallClock
from xbot_assets.connectors.base import ConnectorError, NotSent
from xbot_assets.connectors.ledger import WRITES, ApiLedger, CallRecord
from xbot_assets.connectors.x_api.oauth2 import TokenError
from xbot_assets.connectors.x_api.wire import problem_text

DEFAULT_BASE_URL = "https://api.x.com"
RATE_HEADERS = ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset",
                "x-user-limit-24hour-limit", "x-user-limit-24hour-remaining", "x-user-limit-24hour-reset",
                "x-app-limit-24hour-limit", "x-app-limit-24hour-remaining", "x-app-limit-24hour-reset")


class XApiError(ConnectorError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class RateLimited(NotSent):
    """429 beyond what a run waits for: a spent 24-hour cap, or a window resetting later than `max_wait_seconds`."""

    def __init__(self, message: str, reset_at: datetime | None, daily: bool):
        super().__init__(message, stop=True, until=reset_at)
        self.status = 429
        self.daily = daily


class CreditsExhausted(NotSent):
    """402 Payment Required: the pay-per-use credits are spent; nothing more is sent until they are topped up."""

    def __init__(self, message: str):
        super().__init__(message, stop=True)
        self.status = 402


class TokenRejected(NotSent, XApiError):
    """401 Unauthorized: X rejected the credentials; nothing was created, nothing more is sent until they work."""

    def __init__(self, message: str):
        NotSent.__init__(self, message, stop=True)
        self.status = 401


class SendUnknown(XApiError):
    """A write was sent and no answer came back (timeout, dropped connection, 5xx): it may or may not exist.
    `in_flight`: the answer timed out, so X may still be creating the post."""

    def __init__(self, message: str, status: int | None = None, in_flight: bool = False):
        super().__init__(message, status)
        self.in_flight = in_flight


class _Transient(XApiError):
    """A read that may succeed when tried again (5xx, timeout, dropped connection, a short rate-limit window)."""

    def __init__(self, message: str, status: int | None = None, wait_seconds: float | None = None):
        super().__init__(message, status)
        self.wait_seconds = wait_seconds


def _reset_time(headers: Mapping[str, str], name: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(headers[name]), UTC).replace(tzinfo=None)
    except (KeyError, TypeError, ValueError):
        return None


class XApiClient:
    """One account's signed session. `auth` is a requests auth (OAuth1 or a Bearer token), never logged."""

    def __init__(self, auth: requests.auth.AuthBase, ledger: ApiLedger, *, base_url: str = DEFAULT_BASE_URL,
                 connect_timeout: float = 5.0, read_timeout: float = 30.0, max_attempts: int = 3,
                 max_wait_seconds: float = 900.0, sleep: Callable[[float], None] = time.sleep):
        self.session = requests.Session()
        self.session.auth = auth
        self.session.headers["User-Agent"] = "xbot"
        self.ledger = ledger
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.max_attempts = max_attempts
        self.max_wait_seconds = max_wait_seconds
        self.sleep = sleep

    def request(self, method: str, path: str, *, price_kind: str, params: Mapping[str, Any] | None = None,
                body: Mapping[str, Any] | None = None, max_resources: int = 1,
                resource_ids: Callable[[dict], Sequence[str]] | None = None,
                budget_exempt: bool = False) -> dict[str, Any]:
        """One call: budget checked first (unless exempt: the read that settles whether a post went out must never
        be refused), then sent (reads retried), recorded in the ledger whatever happens."""
        if not budget_exempt:
            self.ledger.check(price_kind, max_resources, WallClock().now())

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _Transient) and error.wait_seconds is not None:
                return error.wait_seconds
            return wait_random_exponential(multiplier=0.5, max=8)(state)

        retrying = Retrying(stop=stop_after_attempt(self.max_attempts), wait=wait, sleep=self.sleep, reraise=True,
                            retry=retry_if_exception(lambda e: isinstance(e, _Transient)))
        try:
            return retrying(self._send, method, path, price_kind, params, body, resource_ids)
        except _Transient as exc:
            message = f"{method} {path} failed after {self.max_attempts} attempts: {exc}"
            if exc.status == 429:  # refused every time: nothing was created, and the window is still closed
                raise RateLimited(message, None, daily=False) from exc
            raise XApiError(message, exc.status) from exc

    def _send(self, method: str, path: str, price_kind: str, params, body, resource_ids) -> dict[str, Any]:
        started = WallClock().now()
        clock = time.perf_counter()
        record = CallRecord(method=method, endpoint=path, started_at=started, price_kind=price_kind)
        write = price_kind in WRITES
        try:
            response = self.session.request(method, self.base_url + path, params=params, json=body,
                                            timeout=self.timeout)
        except requests.RequestException as exc:  # refused, reset, timed out, or cut while reading the answer
            record.duration_ms = (time.perf_counter() - clock) * 1000
            record.error = f"{type(exc).__name__}: {exc}"[:500]
            self.ledger.record(record)
            if write:
                raise SendUnknown(f"{method} {path}: no answer ({type(exc).__name__})",
                                  in_flight=isinstance(exc, requests.ReadTimeout)) from exc
            raise _Transient(f"no answer ({type(exc).__name__})") from exc
        except TokenError as exc:  # no usable OAuth 2.0 token, or X answered 401 and refused to refresh it
            if getattr(exc, "status", None):  # the request reached X: it is a call
                record.duration_ms = (time.perf_counter() - clock) * 1000
                record.status_code = exc.status
                record.error = str(exc)[:500]
                self.ledger.record(record)
            raise TokenRejected(f"{method} {path}: {exc}") from exc
        record.duration_ms = (time.perf_counter() - clock) * 1000
        record.status_code = response.status_code
        record.rate_limit = {h: response.headers[h] for h in RATE_HEADERS if h in response.headers}
        record.response_json = response.text
        try:
            payload = response.json() if response.content else {}
        except ValueError:
            payload = {"unparsed": response.text[:300]}
        status = response.status_code
        if 200 <= status < 300:
            try:
                record.resource_ids = list(resource_ids(payload)) if resource_ids else []
            finally:
                self.ledger.record(record)
            return payload
        record.error = problem_text(payload)[:500]
        self.ledger.record(record)
        message = f"{method} {path} → {status}: {record.error}"
        if status == 402:
            raise CreditsExhausted(message)
        if status == 401:
            raise TokenRejected(f"{message} (X rejects the account's token: authorize the app again)")
        if status == 429:
            raise self._rate_limited(message, response.headers)
        if status >= 500:
            if write:
                raise SendUnknown(message, status)
            raise _Transient(message, status)
        raise XApiError(message, status)

    def _rate_limited(self, message: str, headers: Mapping[str, str]) -> XApiError:
        for scope in ("user", "app"):
            if headers.get(f"x-{scope}-limit-24hour-remaining") == "0":
                reset = _reset_time(headers, f"x-{scope}-limit-24hour-reset")
                return RateLimited(f"{message} (24-hour {scope} cap spent until {reset} UTC)", reset, daily=True)
        reset = _reset_time(headers, "x-rate-limit-reset")
        wait = max(0.0, (reset - WallClock().now()).total_seconds()) + 1.0 if reset else 60.0
        if wait > self.max_wait_seconds:
            return RateLimited(f"{message} (window resets at {reset} UTC)", reset, daily=False)
        return _Transient(f"{message} (waiting {wait:.0f} s for the window to reset)", 429, wait_seconds=wait)

