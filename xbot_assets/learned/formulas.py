"""The formulas of `learn.formulas`: structures of the account's own winners and their performance
(`learning.formulas`), recomputed from the gated outcomes and replacing the account's rows.

With model labels (XBOT_LABELLER=llm, see acting/generators/llm_labels.py) a post labelled in `act.post_labels`
gives its structure and hook from the label, the others are read by the rules. This layer only reads the labels
(it never asks a model: `learn_formulas` takes the labelling as a callable from the Dagster layer).

Settings: XBOT_FORMULA_MIN_ER (0.02) and XBOT_FORMULA_MIN_IMPRESSIONS (5000), a winner's thresholds (seed 002).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from xbot_assets.learned.store import AccountRunner, forget_accounts_that_left, mart_accounts, run_directly
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


# The posts compute_formulas reads: the account's own gated posts with a measured engagement rate.
_FROM = "from analytics.outcomes o join raw.posts p on p.decision_id = o.decision_id"
_WHERE = "where o.account_id = ? and o.passes_learning_gate and o.engagement_rate is not null"


def compute_formulas(conn: Connection, account_id: str, settings: FormulaSettings,
                     model_labels: bool = False) -> pd.DataFrame:
    """Read from analytics.outcomes (the account's own posts; viral examples are never there) and the posts' text;
    with `model_labels`, the labelled posts' hook and structure from act.post_labels. The frame's
    `attrs["structures"]` counts the posts read by each source ({"model": n, "rules": m})."""
    if model_labels:
        outcomes = conn.fetch_df(
            "select o.decision_id, o.generator_name, coalesce(l.hook, o.hook) as hook, l.structure, p.content, "
            "o.impressions, o.likes, o.retweets, o.replies, o.engagement_rate, o.followers_gained "
            f"{_FROM} left join act.post_labels l on l.decision_id = o.decision_id {_WHERE} "
            "order by o.posted_at, o.decision_id", [account_id])
    else:
        outcomes = conn.fetch_df(
            "select o.decision_id, o.generator_name, o.hook, p.content, o.impressions, o.likes, o.retweets, "
            f"o.replies, o.engagement_rate, o.followers_gained {_FROM} {_WHERE} order by o.posted_at, o.decision_id",
            [account_id])
    formulas = extract_formulas(outcomes, min_er=settings.min_er, min_impressions=settings.min_impressions)
    read = outcomes.dropna(subset=["content", "hook"])
    by_model = int(read["structure"].notna().sum()) if "structure" in read else 0
    formulas.attrs["structures"] = {"model": by_model, "rules": len(read) - by_model}
    return formulas


def unlabelled_posts(conn: Connection, account_id: str, limit: int) -> list[tuple[str, str]]:
    """(decision_id, text) of the posts compute_formulas reads that have no label yet, newest first, at most
    `limit`: what a run's labelling asks about (older posts wait for a later run)."""
    if limit <= 0:
        return []
    return [(str(d), str(t)) for d, t in conn.fetchall(
        f"select o.decision_id, p.content {_FROM} {_WHERE} and p.content is not null and not exists (select 1 from "
        "act.post_labels l where l.decision_id = o.decision_id) order by o.posted_at desc, o.decision_id desc "
        f"limit {int(limit)}", [account_id])]


def write_formulas(conn: Connection, account_id: str, formulas: pd.DataFrame, now: datetime) -> None:
    conn.execute("delete from learn.formulas where account_id = ?", [account_id])
    conn.insert_rows("learn.formulas", TABLE_COLUMNS, [
        [account_id, *(to_python(v) for v in row), now]
        for row in formulas[FORMULA_COLUMNS].itertuples(index=False, name=None)])


def learn_formulas(warehouse: Warehouse, now: datetime, settings: FormulaSettings | None = None,
                   run: AccountRunner = run_directly,
                   label: Callable[[str], object] | None = None,
                   only: Collection[str] | None = None) -> dict[str, pd.DataFrame]:
    """Every account's formulas. With `label` (called with the account before its formulas are computed, in the
    account's own isolation), the model's stored labels are used for the posts that have one."""
    settings = settings or FormulaSettings.from_env()
    with warehouse.connect() as conn:
        accounts = mart_accounts(conn, "outcomes", only)

    def learn(account_id: str) -> pd.DataFrame:
        if label is not None:
            label(account_id)
        with warehouse.connect() as conn:
            formulas = compute_formulas(conn, account_id, settings, model_labels=label is not None)
            write_formulas(conn, account_id, formulas, now)
        return formulas

    result = {}
    for account_id in accounts:
        formulas = run(account_id, lambda account_id=account_id: learn(account_id))
        if formulas is not None:
            result[account_id] = formulas
    with warehouse.connect() as conn:
        forget_accounts_that_left(conn, "learn.formulas", accounts, only)
    return result
