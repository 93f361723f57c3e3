"""Invariants of the learned tables, as lists of problems (empty when all hold): the asset checks of the learn group
and `xbot health` call these. Each counts from the tables themselves, independently of the code that wrote them."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from xbot_assets.learned.store import static_accounts
from xbot_assets.learned.weights import EVENT_LOCKED, EVENT_MANUAL
from xbot_assets.learning.generator_weights import DISABLED, LOCKED, PINNED, SUM_TOLERANCE
from xbot_assets.warehouse.connection import Connection


def arm_count_mismatches(conn: Connection) -> list[dict[str, Any]]:
    """Arms whose stored counts differ from the counts in analytics.outcomes (empty when all agree).

    Counted straight from the outcomes mart (gated, engagement rate known; success = its is_success column), not from
    the pure functions, so this is an independent check. Successes and failures are compared only for arms stored
    without recency decay (with decay they are weighted sums, not counts).
    """
    expected = conn.fetch_df(
        """
        select account_id, 'content_' || content_type as arm_name,
               count(*) as plays, sum(case when is_success then 1 else 0 end) as successes
        from analytics.outcomes
        where passes_learning_gate and engagement_rate is not null and content_type is not null
        group by account_id, content_type
        union all
        select account_id, 'timing_' || cast(posted_hour as varchar) as arm_name,
               count(*) as plays, sum(case when is_success then 1 else 0 end) as successes
        from analytics.outcomes
        where passes_learning_gate and engagement_rate is not null and posted_hour is not null
        group by account_id, posted_hour
        union all
        select account_id, 'hook_' || hook as arm_name,
               count(*) as plays, sum(case when is_success then 1 else 0 end) as successes
        from analytics.outcomes
        where passes_learning_gate and engagement_rate is not null and hook is not null
        group by account_id, hook
        union all
        select account_id, 'topic_' || topic_arm as arm_name,
               count(*) as plays, sum(case when is_success then 1 else 0 end) as successes
        from analytics.outcomes
        where passes_learning_gate and engagement_rate is not null and topic_arm is not null
          and coalesce(topic_source, '') <> 'trending'
        group by account_id, topic_arm
        """
    )
    stored = conn.fetch_df(
        "select account_id, arm_name, plays, successes, failures, half_life_days from learn.bandit_arms"
    )
    static = static_accounts(conn)  # not learned: no arms expected
    exp = {(r.account_id, r.arm_name): (int(r.plays), int(r.successes)) for r in expected.itertuples()
           if r.account_id not in static}
    got = {(r.account_id, r.arm_name): r for r in stored.itertuples()}
    problems = []
    def problem(key: tuple[str, str], text: str) -> None:
        problems.append({"account_id": key[0], "arm_name": key[1], "problem": text})

    for key, (plays, successes) in exp.items():
        row = got.get(key)
        if row is None:
            problem(key, f"missing ({plays} plays in outcomes)")
            continue
        if int(row.plays) != plays:
            problem(key, f"plays {row.plays} ≠ {plays}")
        decayed = row.half_life_days is not None and not pd.isna(row.half_life_days)
        failures = plays - successes
        if not decayed and (
            abs(float(row.successes) - successes) > 1e-9 or abs(float(row.failures) - failures) > 1e-9
        ):
            problem(key, f"successes/failures {row.successes:g}/{row.failures:g} ≠ {successes}/{failures}")
    for key, row in got.items():
        if key not in exp and int(row.plays) != 0:
            problem(key, f"{row.plays} plays, none in outcomes")
    return problems


def weight_sum_problems(conn: Connection, tolerance: float = SUM_TOLERANCE) -> list[str]:
    rows = conn.fetchall(
        "select account_id, sum(weight), count(*) from learn.generator_weights group by account_id order by account_id"
    )
    return [f"{a}: weights sum to {s!r} ({n} generators)" for a, s, n in rows if abs(float(s) - 1.0) > tolerance]


def floor_problems(conn: Connection, floor: float) -> list[str]:
    rows = conn.fetchall(
        "select account_id, generator_name, status, weight from learn.generator_weights "
        "where status <> ? and weight < ? order by account_id, generator_name",
        [DISABLED, floor - 1e-12],
    )
    return [f"{a}/{g} ({s}) has weight {w:.6f} < floor {floor}" for a, g, s, w in rows]


def locked_weight_problems(conn: Connection) -> list[str]:
    """Each locked or pinned generator must still have the weight recorded when it was locked or last set by hand."""
    locked = conn.fetchall(
        "select account_id, generator_name, weight, status from learn.generator_weights where status in (?, ?) "
        "order by account_id, generator_name",
        [LOCKED, PINNED],
    )
    problems = []
    for account_id, generator, weight, status in locked:
        events = conn.fetchall(
            "select event_type, changes, created_at from learn.optimization_events where account_id = ? "
            "and event_type in (?, ?) order by sequence desc",
            [account_id, EVENT_LOCKED, EVENT_MANUAL],
        )
        recorded = None
        for _, changes, _ in events:
            match = [c for c in json.loads(changes) if c.get("generator") == generator]
            if match:
                recorded = float(match[0]["new_weight"])
                break
        if recorded is None:
            problems.append(f"{account_id}/{generator} is {status} but no lock or manual event records its weight")
        elif abs(float(weight) - recorded) > 1e-12:
            problems.append(f"{account_id}/{generator} is {status} at {recorded:.6f} but now has {float(weight):.6f}")
    cycles = conn.fetchall(
        "select account_id, event_id, generator_name, status, weight_before, weight_after from "
        "learn.generator_performance_history where status in (?, ?) and weight_before is not null "
        "and abs(weight_after - weight_before) > 1e-12",
        [LOCKED, PINNED],
    )
    problems += [f"{a}/{g} was {s} but cycle {e} moved it {b:.6f} → {w:.6f}" for a, e, g, s, b, w in cycles]
    return problems
