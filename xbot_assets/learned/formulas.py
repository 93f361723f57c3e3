"""The formulas of `learn.formulas`: structures of the account's own winners and their performance
(`learning.formulas`), recomputed from the gated outcomes and replacing the account's rows.

Settings: XBOT_FORMULA_MIN_ER (0.02) and XBOT_FORMULA_MIN_IMPRESSIONS (5000), a winner's thresholds (seed 002).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from xbot_assets.learned.store import AccountRunner, mart_accounts, run_directly
from xbot_assets.learning.formulas import FORMULA_COLUMNS, MIN_ER, MIN_IMPRESSIONS, extract_formulas
from xbot_assets.settings import env_float
from xbot_assets.warehouse.connection import Connection, Warehouse
from xbot_assets.warehouse.values import to_python

TABLE_COLUMNS = ("account_id", *FORMULA_COLUMNS, "updated_at")


@dataclass(frozen=True)
class FormulaSettings:
    min_er: float = MIN_ER
    min_impressions: float = MIN_IMPRESSIONS

    @classmethod
    def from_env(cls) -> FormulaSettings:
        return cls(env_float("XBOT_FORMULA_MIN_ER", MIN_ER), env_float("XBOT_FORMULA_MIN_IMPRESSIONS", MIN_IMPRESSIONS))


def compute_formulas(conn: Connection, account_id: str, settings: FormulaSettings) -> pd.DataFrame:
    """Read from analytics.outcomes (the account's own posts; viral examples are never there) and the posts' text."""
    outcomes = conn.fetch_df(
        "select o.decision_id, o.generator_name, o.hook, p.content, o.impressions, o.likes, o.retweets, o.replies, "
        "o.engagement_rate, o.followers_gained from analytics.outcomes o join raw.posts p on p.decision_id = "
        "o.decision_id where o.account_id = ? and o.passes_learning_gate and o.engagement_rate is not null "
        "order by o.posted_at, o.decision_id", [account_id])
    return extract_formulas(outcomes, min_er=settings.min_er, min_impressions=settings.min_impressions)


def write_formulas(conn: Connection, account_id: str, formulas: pd.DataFrame, now: datetime) -> None:
    conn.execute("delete from learn.formulas where account_id = ?", [account_id])
    conn.insert_rows("learn.formulas", TABLE_COLUMNS, [
        [account_id, *(to_python(v) for v in row), now]
        for row in formulas[FORMULA_COLUMNS].itertuples(index=False, name=None)])


def learn_formulas(warehouse: Warehouse, now: datetime, settings: FormulaSettings | None = None,
                   run: AccountRunner = run_directly) -> dict[str, pd.DataFrame]:
    settings = settings or FormulaSettings.from_env()
    with warehouse.connect() as conn:
        accounts = mart_accounts(conn, "outcomes")

    def learn(account_id: str) -> pd.DataFrame:
        with warehouse.connect() as conn:
            formulas = compute_formulas(conn, account_id, settings)
            write_formulas(conn, account_id, formulas, now)
        return formulas

    result = {}
    for account_id in accounts:
        formulas = run(account_id, lambda account_id=account_id: learn(account_id))
        if formulas is not None:
            result[account_id] = formulas
    with warehouse.connect() as conn:
        marks = ", ".join("?" for _ in accounts)
        conn.execute(f"delete from learn.formulas where account_id not in ({marks})" if accounts
                     else "delete from learn.formulas", accounts or None)
    return result
