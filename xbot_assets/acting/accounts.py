"""The accounts xbot acts for (`act.accounts`): connector, policy, generator policy, posts a day, enabled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from xbot_assets.acting.planner import GENERATOR_POLICIES, POLICIES
from xbot_assets.clock import utc_naive
from xbot_assets.warehouse.connection import Connection, Warehouse

CONNECTORS = ("simulator",)


@dataclass(frozen=True)
class Account:
    account_id: str
    connector: str = "simulator"
    scenario: str | None = "default"
    sim_seed: int | None = None
    policy: str = "learned"
    generator_policy: str = "weights"
    posts_per_day: int = 4
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.connector not in CONNECTORS:
            raise ValueError(f"connector must be one of {CONNECTORS}, got {self.connector!r}")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        if self.generator_policy not in GENERATOR_POLICIES:
            raise ValueError(f"generator_policy must be one of {GENERATOR_POLICIES}, got {self.generator_policy!r}")


_ACCOUNT_COLUMNS = ("account_id", "connector", "scenario", "sim_seed", "policy", "generator_policy", "posts_per_day",
                    "enabled")


def register_account(warehouse: Warehouse, account: Account, now: datetime) -> None:
    """Add or update an account xbot acts for (idempotent)."""
    with warehouse.connect() as conn:
        conn.insert_rows(
            "act.accounts", (*_ACCOUNT_COLUMNS, "updated_at"),
            [[getattr(account, c) for c in _ACCOUNT_COLUMNS] + [utc_naive(now)]],
            conflict_columns=("account_id",), update_columns=(*_ACCOUNT_COLUMNS[1:], "updated_at"),
        )


def accounts(conn: Connection, enabled_only: bool = True) -> list[Account]:
    rows = conn.fetchall(
        f"select {', '.join(_ACCOUNT_COLUMNS)} from act.accounts"
        + (" where enabled" if enabled_only else "") + " order by account_id"
    )
    return [Account(*[r[0], r[1], r[2], None if r[3] is None else int(r[3]), r[4], r[5], int(r[6]), bool(r[7])])
            for r in rows]
