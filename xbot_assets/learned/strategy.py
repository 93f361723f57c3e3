"""The learned strategy of `learn.strategy` (issue 17; seed 002's learning summary): what works for the account, in
words, each item with the evidence behind it — top topics, best hours, effective hooks (ranked by their Beta
posterior mean, with plays, successes, mean engagement rate and the probability Thompson sampling picks them), best
formulas (learn.formulas), generator performance (posts, engagement rate, F/1K from the gated outcomes) and how the
trending share's posts did beside the bandit's (judged apart). Rebuilt with the arms and the formulas; one JSON
document per account."""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from datetime import datetime
from typing import Any

import pandas as pd

from xbot_assets.learned.store import (
    TOPIC_REWARD_F_PER_1K,
    TOPIC_REWARD_SUCCESS,
    AccountRunner,
    canonical,
    mart_accounts,
    run_directly,
)
from xbot_assets.learning.generator_weights import NOT_GENERATORS
from xbot_assets.warehouse.connection import Connection, Warehouse

TOP = 3


def _number(value: Any, digits: int = 6) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return None
    return round(float(value), digits)


def _arms(conn: Connection, account_id: str, scope: str) -> list[dict]:
    frame = conn.fetch_df(
        "select arm_value, plays, successes, posterior_mean, mean_reward, selection_probability, reward "
        "from learn.bandit_arms where account_id = ? and scope = ? and plays > 0", [account_id, scope])
    if frame.empty:
        return []
    # Beta arms rank by their posterior mean, ties by the mean engagement rate; hours (UCB1) by the mean rate; topic
    # arms learned on follows by their posterior F/1K (learned_on f_per_1k).
    order = ["mean_reward"] if scope == "timing" else ["posterior_mean", "mean_reward"]
    frame = frame.sort_values([*order, "plays", "arm_value"], ascending=[*(False for _ in order), False, True])
    frame = frame.head(TOP)
    key = {"timing": "hour", "topic": "topic", "hook": "hook"}[scope]
    return [{key: int(r.arm_value) if scope == "timing" else str(r.arm_value), "posts": int(r.plays),
             "successes": _number(r.successes), "mean_er": _number(r.mean_reward),
             "posterior_mean": _number(r.posterior_mean), "p_chosen": _number(r.selection_probability),
             "learned_on": str(r.reward or TOPIC_REWARD_SUCCESS)}
            for r in frame.itertuples()]


def _pooled(frame: pd.DataFrame) -> dict:
    impressions = float(frame["impressions"].fillna(0).sum())
    engaged = float(frame[["likes", "retweets", "replies"]].fillna(0).sum().sum())
    return {"posts": len(frame), "engagement_rate": _number(engaged / impressions) if impressions else None,
            "f_per_1k": _number(float(frame["followers_gained"].fillna(0).sum()) / impressions * 1000)
            if impressions else None}


def compute_strategy(conn: Connection, account_id: str, now: datetime) -> dict:
    outcomes = conn.fetch_df(
        "select generator_name, topic_source, impressions, likes, retweets, replies, followers_gained "
        "from analytics.outcomes where account_id = ? and passes_learning_gate and engagement_rate is not null",
        [account_id])
    generators = [{"generator": str(g), **_pooled(group)}
                  for g, group in outcomes.groupby("generator_name", sort=True) if g not in NOT_GENERATORS]
    generators.sort(key=lambda g: (-(g["f_per_1k"] or 0.0), -g["posts"], g["generator"]))
    formulas = conn.fetch_df(
        "select name, structure, hook, posts, winners, mean_impressions, engagement_rate, f_per_1k, confidence, "
        "example from learn.formulas where account_id = ? and generator_name = '*' order by rank",
        [account_id]).head(TOP) if conn.table_exists("learn", "formulas") else pd.DataFrame()
    trending = outcomes[outcomes["topic_source"] == "trending"]
    bandit = outcomes[outcomes["topic_source"] == "bandit"]
    return {
        "as_of": now.isoformat(sep=" "), "posts": len(outcomes),
        "top_topics": _arms(conn, account_id, "topic"),
        "best_hours": _arms(conn, account_id, "timing"),
        "effective_hooks": _arms(conn, account_id, "hook"),
        "best_formulas": [{k: canonical(v) for k, v in row.items()} for row in formulas.to_dict("records")],
        "generator_performance": generators,
        "trending_vs_bandit": {"trending": _pooled(trending), "bandit": _pooled(bandit)},
    }


def learn_strategy(warehouse: Warehouse, now: datetime, run: AccountRunner = run_directly,
                   only: Collection[str] | None = None) -> dict[str, dict]:
    with warehouse.connect() as conn:
        accounts = mart_accounts(conn, "outcomes", only)

    def learn(account_id: str) -> dict:
        with warehouse.connect() as conn:
            strategy = compute_strategy(conn, account_id, now)
            conn.insert_rows("learn.strategy", ("account_id", "strategy_json", "posts_counted", "updated_at"),
                             [[account_id, json.dumps(strategy), strategy["posts"], now]],
                             conflict_columns=("account_id",),
                             update_columns=("strategy_json", "posts_counted", "updated_at"))
        return strategy

    result = {}
    for account_id in accounts:
        strategy = run(account_id, lambda account_id=account_id: learn(account_id))
        if strategy is not None:
            result[account_id] = strategy
    return result


def load_strategy(conn: Connection, account_id: str) -> dict | None:
    if not conn.table_exists("learn", "strategy"):
        return None
    raw = conn.scalar("select strategy_json from learn.strategy where account_id = ?", [account_id])
    return json.loads(raw) if raw else None


def _share(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1%}"


def _arm_words(items: list[dict], key: str) -> str:
    # UCB1 picks the hour deterministically: its "probability" is 0 or 1 and says nothing, so it is not shown.
    if key == "hour":
        return "; ".join(f"{i['hour']:02d}:00 UTC ({i['posts']} posts, ER {_share(i['mean_er'])})"
                         for i in items) or "none played yet"
    return "; ".join(f"{i[key]} ({i['posts']} posts, ER {_share(i['mean_er'])}{_follow_rate(i)}, "
                     f"P(chosen) {_share(i['p_chosen'])})" for i in items) or "none played yet"


def _follow_rate(item: dict) -> str:
    """An arm learned on follows is ranked by its posterior F/1K: the words say so."""
    if item.get("learned_on") != TOPIC_REWARD_F_PER_1K or item.get("posterior_mean") is None:
        return ""
    return f", posterior F/1K {float(item['posterior_mean']):.2f}"


def strategy_summary(strategy: dict) -> list[tuple[str, str]]:
    """The strategy in words, item by item, each with its evidence: what `xbot status`, the asset's metadata and the
    operator's dashboard all show (one wording)."""
    formulas = "; ".join(
        f"{f['name']} = {f['structure']} ({f['posts']} posts, ER {_share(f['engagement_rate'])}, confidence "
        f"{'—' if f.get('confidence') is None else format(float(f['confidence']), '.2f')})"
        for f in strategy.get("best_formulas") or [])
    generators = "; ".join(
        f"{g['generator']} (F/1K {'—' if g['f_per_1k'] is None else format(g['f_per_1k'], '.2f')}, "
        f"ER {_share(g['engagement_rate'])}, {g['posts']} posts)"
        for g in (strategy.get("generator_performance") or [])[:TOP])
    split = strategy.get("trending_vs_bandit") or {}
    trend, bandit = split.get("trending") or {}, split.get("bandit") or {}
    return [
        ("top topics", _arm_words(strategy.get("top_topics") or [], "topic")),
        ("best hours", _arm_words(strategy.get("best_hours") or [], "hour")),
        ("effective hooks", _arm_words(strategy.get("effective_hooks") or [], "hook")),
        ("best formulas", formulas or "none yet"),
        ("generators", generators or "none yet"),
        ("trending topics", f"{trend.get('posts', 0)} posts, ER {_share(trend.get('engagement_rate'))} (the "
                            f"bandit's topics: {bandit.get('posts', 0)} posts, ER {_share(bandit.get('engagement_rate'))})"),
    ]
