"""The cost ledger of platform API calls (`act.api_calls`): every call's endpoint, status, cost under X's
pay-per-use prices, the rate-limit headers it saw and the raw JSON it returned (kept for audit), and the monthly
budget that stops publishing and reading before it is exceeded.

Prices are settings with X's documented defaults (docs.x.com pricing, late 2026), in USD:

    XBOT_X_PRICE_POST            0.015   a post created (each part of a thread is one post)
    XBOT_X_PRICE_POST_URL        0.200   a post created that contains a URL
    XBOT_X_PRICE_POST_READ       0.005   a post read by id (GET /2/tweets), per post returned
    XBOT_X_PRICE_OWNED_READ      0.001   a post of the account's own timeline (GET /2/users/:id/tweets), per post
    XBOT_X_PRICE_USER_READ       0.010   a user read (GET /2/users/me), per user returned
    XBOT_X_PRICE_ANALYTICS_READ  0.005   a post's analytics (GET /2/tweets/analytics), per post: X removed this
                                         line from its pricing page on 2026-06-18, so the old price stands in
    XBOT_X_MONTHLY_BUDGET_USD    unset   the most an account may spend in a calendar month (UTC); unset = no cap

Reads are charged once per resource and UTC day (X deduplicates them), so a second read of the same post on the same
day costs nothing; `act.api_charges` remembers what was charged. Secrets never reach the ledger: it stores the
response body and the rate-limit headers, never a request header.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from xbot_assets.connectors.base import NotSent
from xbot_assets.settings import env_float
from xbot_assets.warehouse.connection import Connection, Warehouse

POST = "post"
POST_URL = "post_url"
POST_READ = "post_read"
OWNED_READ = "owned_read"
USER_READ = "user_read"
ANALYTICS_READ = "analytics_read"
FREE = "free"
WRITES = (POST, POST_URL)

DEFAULT_PRICES = {POST: 0.015, POST_URL: 0.200, POST_READ: 0.005, OWNED_READ: 0.001, USER_READ: 0.010,
                  ANALYTICS_READ: 0.005, FREE: 0.0}
PRICE_ENV = {POST: "XBOT_X_PRICE_POST", POST_URL: "XBOT_X_PRICE_POST_URL", POST_READ: "XBOT_X_PRICE_POST_READ",
             OWNED_READ: "XBOT_X_PRICE_OWNED_READ", USER_READ: "XBOT_X_PRICE_USER_READ",
             ANALYTICS_READ: "XBOT_X_PRICE_ANALYTICS_READ"}
BUDGET_ENV = "XBOT_X_MONTHLY_BUDGET_USD"

CALL_COLUMNS = ("call_id", "account_id", "connector", "method", "endpoint", "status_code", "started_at",
                "duration_ms", "price_kind", "resources", "cost_usd", "rate_limit", "response_json", "error")


def prices_from_env() -> dict[str, float]:
    return {kind: env_float(PRICE_ENV[kind], price) if kind in PRICE_ENV else price
            for kind, price in DEFAULT_PRICES.items()}


def budget_from_env() -> float | None:
    raw = os.environ.get(BUDGET_ENV, "").strip()
    if not raw:
        return None
    value = float(raw)
    if value < 0:
        raise ValueError(f"{BUDGET_ENV} must not be negative, got {raw!r}")
    return value


class BudgetExceeded(NotSent):
    """The call would take the account's spend this month past XBOT_X_MONTHLY_BUDGET_USD; it was not made."""

    def __init__(self, message: str):
        super().__init__(message, stop=True)


@dataclass
class CallRecord:
    method: str
    endpoint: str
    started_at: datetime  # naive UTC, wall time
    price_kind: str
    status_code: int | None = None
    duration_ms: float = 0.0
    resource_ids: Sequence[str] = ()
    rate_limit: dict[str, str] = field(default_factory=dict)
    response_json: str | None = None
    error: str | None = None


def month_start(at: datetime) -> datetime:
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass
class ApiLedger:
    """Records calls of one account's connector and guards its monthly budget."""

    warehouse: Warehouse
    account_id: str
    connector: str
    prices: dict[str, float] = field(default_factory=prices_from_env)
    monthly_budget: float | None = field(default_factory=budget_from_env)

    def month_spend(self, at: datetime) -> float:
        with self.warehouse.connect() as conn:
            return float(conn.scalar(
                "select coalesce(sum(cost_usd), 0) from act.api_calls where account_id = ? and started_at >= ?",
                [self.account_id, month_start(at)]) or 0.0)

    def check(self, price_kind: str, max_resources: int, at: datetime) -> None:
        """Refuse a call whose worst-case cost would exceed the budget (writes always count whole)."""
        if self.monthly_budget is None:
            return
        estimate = self.prices[price_kind] * max(1, max_resources)
        spent = self.month_spend(at)
        if spent + estimate > self.monthly_budget + 1e-12:
            raise BudgetExceeded(
                f"monthly budget ${self.monthly_budget:.2f} for {self.account_id}: ${spent:.3f} spent this month, "
                f"this call could cost ${estimate:.3f}; not sent")

    def record(self, call: CallRecord) -> float:
        """Store one call and return what it cost (reads: only the resources not yet charged today)."""
        price = self.prices[call.price_kind]
        charged_ids: list[str] = []
        with self.warehouse.connect() as conn:
            if call.price_kind in WRITES:
                cost = price if call.status_code is not None and 200 <= call.status_code < 300 else 0.0
            elif price and call.resource_ids:
                day = call.started_at.date()
                ids = sorted(set(map(str, call.resource_ids)))
                marks = ", ".join("?" for _ in ids)
                seen = {r[0] for r in conn.fetchall(
                    f"select resource_id from act.api_charges where account_id = ? and charge_day = ? and "
                    f"price_kind = ? and resource_id in ({marks})", [self.account_id, day, call.price_kind, *ids])}
                charged_ids = [i for i in ids if i not in seen]
                conn.insert_rows("act.api_charges", ("account_id", "charge_day", "price_kind", "resource_id"),
                                 [[self.account_id, day, call.price_kind, i] for i in charged_ids],
                                 conflict_columns=("account_id", "charge_day", "price_kind", "resource_id"))
                cost = price * len(charged_ids)
            else:
                cost = 0.0
            conn.insert_rows("act.api_calls", CALL_COLUMNS, [[
                uuid.uuid4().hex, self.account_id, self.connector, call.method, call.endpoint, call.status_code,
                call.started_at, round(call.duration_ms, 1), call.price_kind, len(call.resource_ids), cost,
                json.dumps(call.rate_limit, sort_keys=True) if call.rate_limit else None, call.response_json,
                call.error,
            ]])
        return cost


def month_usage(conn: Connection, at: datetime) -> dict[str, dict[str, Any]]:
    """This calendar month's (UTC) API calls and spend per account, with the budget (for `xbot status`)."""
    if not conn.table_exists("act", "api_calls"):
        return {}
    rows = conn.fetchall(
        "select account_id, count(*), coalesce(sum(cost_usd), 0), sum(case when status_code >= 400 or "
        "status_code is null then 1 else 0 end) from act.api_calls where started_at >= ? "
        "group by account_id order by account_id", [month_start(at)])
    budget = budget_from_env()
    return {a: {"month": month_start(at).strftime("%Y-%m"), "calls": int(n), "failed_calls": int(f or 0),
                "spend_usd": round(float(s), 6), "budget_usd": budget} for a, n, s, f in rows}
