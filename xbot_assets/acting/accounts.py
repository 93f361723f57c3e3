"""The accounts xbot acts for (`act.accounts`): connector, handle, time zone, policy, generator policy, posts a day,
and the operator's switches: enabled, publishing (off = dry run: decisions are planned and stored, nothing leaves),
approval (every queued post waits for `xbot queue approve`), links allowed, and which credentials to use."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from xbot_assets.acting.planner import DEFAULT_GENERATOR_POLICY, GENERATOR_POLICIES, POLICIES
from xbot_assets.clock import utc_naive
from xbot_assets.warehouse.connection import Connection, Warehouse

CONNECTORS = ("simulator", "x-api", "x-web")
GENERATORS = ("offline", "llm")
DEFAULT_CREDENTIALS_PREFIX = "XBOT_X_"


@dataclass(frozen=True)
class Account:
    account_id: str
    connector: str = "simulator"
    scenario: str | None = "default"
    sim_seed: int | None = None
    policy: str = "learned"
    generator_policy: str = DEFAULT_GENERATOR_POLICY
    posts_per_day: int = 4
    enabled: bool = True
    handle: str | None = None
    timezone: str | None = None  # None: XBOT_TIMEZONE (UTC)
    publish_enabled: bool = False
    approval_required: bool = False
    credentials_prefix: str | None = None  # None: XBOT_X_ (XBOT_X_API_KEY, ...)
    allow_urls: bool = False
    generator: str | None = None  # offline | llm; None: XBOT_GENERATOR (offline)

    def __post_init__(self) -> None:
        if self.generator not in (None, *GENERATORS):
            raise ValueError(f"generator must be one of {GENERATORS}, got {self.generator!r}")
        if not self.account_id or not self.account_id.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"account name must be letters, digits, '-' or '_', got {self.account_id!r}")
        if self.connector not in CONNECTORS:
            raise ValueError(f"connector must be one of {CONNECTORS}, got {self.connector!r}")
        if self.connector == "x-web" and self.publish_enabled:
            raise ValueError("the x-web connector only reads x.com's pages; it cannot publish (use x-api to publish)")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        if self.generator_policy not in GENERATOR_POLICIES:
            raise ValueError(f"generator_policy must be one of {GENERATOR_POLICIES}, got {self.generator_policy!r}")
        if not 1 <= self.posts_per_day <= 24:
            raise ValueError(f"posts a day must be between 1 and 24, got {self.posts_per_day}")
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {self.timezone!r} (use an IANA name like Europe/Berlin)") from None
        if self.credentials_prefix is not None and not self.credentials_prefix.replace("_", "").isalnum():
            raise ValueError(f"credentials prefix must be an environment variable prefix, got "
                             f"{self.credentials_prefix!r}")

    @property
    def dry_run(self) -> bool:
        return not self.publish_enabled


ACCOUNT_COLUMNS = tuple(f.name for f in fields(Account))
_INTEGER_COLUMNS = {"sim_seed", "posts_per_day"}
_BOOLEAN_COLUMNS = {"enabled", "publish_enabled", "approval_required", "allow_urls"}


def register_account(warehouse: Warehouse, account: Account, now: datetime) -> None:
    """Add or update an account xbot acts for (idempotent)."""
    with warehouse.connect() as conn:
        conn.insert_rows(
            "act.accounts", (*ACCOUNT_COLUMNS, "updated_at"),
            [[getattr(account, c) for c in ACCOUNT_COLUMNS] + [utc_naive(now)]],
            conflict_columns=("account_id",), update_columns=(*ACCOUNT_COLUMNS[1:], "updated_at"),
        )


def _account(row: tuple) -> Account:
    values = {}
    for column, value in zip(ACCOUNT_COLUMNS, row, strict=True):
        if value is not None and column in _INTEGER_COLUMNS:
            value = int(value)
        elif column in _BOOLEAN_COLUMNS:
            value = bool(value) if value is not None else column == "enabled"
        values[column] = value
    return Account(**values)


def accounts(conn: Connection, enabled_only: bool = True) -> list[Account]:
    rows = conn.fetchall(
        f"select {', '.join(ACCOUNT_COLUMNS)} from act.accounts"
        + (" where enabled" if enabled_only else "") + " order by account_id"
    )
    return [_account(r) for r in rows]


def find_account(conn: Connection, account_id: str) -> Account | None:
    row = conn.fetchone(f"select {', '.join(ACCOUNT_COLUMNS)} from act.accounts where account_id = ?", [account_id])
    return _account(row) if row else None
