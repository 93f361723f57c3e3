"""Invariants of the weight optimiser and the manual override under arbitrary tables (hypothesis, derandomised).

The original broke each of these (reference §7.9): weights not summing to 1, locks ignored, floor violated.
"""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import event, given, settings
from hypothesis import strategies as st

from xbot_assets.learning.generator_weights import (
    DEFAULT_WEIGHTS,
    OptimizerSettings,
    optimize_weights,
    set_manual_weight,
)

NAMES = [*DEFAULT_WEIGHTS, "popCultureAnalyst", "historian"]
FLOOR = OptimizerSettings().floor
PROPERTY_SETTINGS = settings(derandomize=True, deadline=None, max_examples=300, database=None)


@st.composite
def current_tables(draw, min_size: int = 0) -> pd.DataFrame:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=min_size, max_size=len(NAMES), unique=True))
    rows = [
        (
            name,
            draw(st.one_of(st.floats(0.0, 0.35), st.just(0.0))),
            draw(st.sampled_from(["active", "active", "locked", "disabled"])),
        )
        for name in names
    ]
    return pd.DataFrame(rows, columns=["generator_name", "weight", "status"])


@st.composite
def performance_tables(draw) -> pd.DataFrame:
    names = draw(st.lists(st.sampled_from(NAMES), max_size=len(NAMES), unique=True))
    rows = []
    for name in names:
        posts = draw(st.integers(0, 40))
        impressions = draw(st.one_of(st.just(0), st.integers(1, 50_000)))
        followers = draw(st.integers(0, 300))
        f_per_1k = followers / impressions * 1000 if impressions else None
        rows.append((name, posts, impressions, followers, f_per_1k))
    return pd.DataFrame(rows, columns=["generator_name", "posts", "impressions", "followers_gained", "f_per_1k"])


def feasible(current: pd.DataFrame, performance: pd.DataFrame) -> bool:
    if current.empty:
        return True  # seed defaults
    locked = current.loc[current["status"] == "locked", "weight"].sum()
    new_names = set(performance["generator_name"]) - set(current["generator_name"])
    n_active = int((current["status"] == "active").sum()) + len(new_names)
    free = 1.0 - locked
    if n_active == 0:
        return abs(free) <= 1e-9
    return free >= FLOOR * n_active - 1e-9


@PROPERTY_SETTINGS
@given(performance=performance_tables(), current=current_tables())
def test_optimiser_invariants(performance, current):
    try:
        result = optimize_weights(performance, current)
    except ValueError:
        event("optimiser: infeasible locks")
        assert not feasible(current, performance)
        return
    assert feasible(current, performance)

    stored = dict(zip(current["generator_name"], current["weight"], strict=True)) if not current.empty else {}
    status = dict(zip(current["generator_name"], current["status"], strict=True)) if not current.empty else {}
    if current.empty:
        stored, status = dict(DEFAULT_WEIGHTS), dict.fromkeys(DEFAULT_WEIGHTS, "active")

    event("optimiser: " + ("applied" if result.applied else "skipped"))
    if not result.applied:
        assert result.skipped_reason.startswith("insufficient data")
        assert result.weights == stored and result.changes == []
        return

    weights = result.weights
    for name in performance["generator_name"]:
        status.setdefault(name, "active")
    assert set(weights) == set(status)
    assert math.isclose(sum(weights.values()), 1.0, abs_tol=1e-9)
    for name, weight in weights.items():
        if status[name] == "locked":
            assert weight == stored[name]  # exactly, not approximately
        elif status[name] == "disabled":
            assert weight == 0.0
        else:
            assert weight >= FLOOR - 1e-12
        assert 0.0 <= weight <= 1.0 + 1e-12

    # Every change is logged, with a percentage only when there was a weight to compare with.
    logged = {c["generator"]: c for c in result.changes}
    for name, weight in weights.items():
        old = stored.get(name, 0.0)
        if abs(weight - old) > 1e-12:
            assert logged[name]["old_weight"] == old and logged[name]["new_weight"] == weight
            assert (logged[name]["change_percent"] is None) == (old == 0)
            assert logged[name]["reason"]
        else:
            assert name not in logged

    # Determinism: the same inputs give the same result, every time.
    assert optimize_weights(performance, current) == result


@PROPERTY_SETTINGS
@given(
    current=current_tables(min_size=1),
    pick=st.integers(0, len(NAMES) - 1),
    weight=st.floats(0.0, 1.0),
)
def test_manual_weight_invariants(current, pick, weight):
    generator = current["generator_name"].iloc[pick % len(current)]
    statuses = dict(zip(current["generator_name"], current["status"], strict=True))
    stored = dict(zip(current["generator_name"], current["weight"], strict=True))
    try:
        weights = set_manual_weight(current, generator, weight)
    except ValueError:
        event("manual: infeasible")
        others = [g for g, s in statuses.items() if s == "active" and g != generator]
        locked = sum(stored[g] for g, s in statuses.items() if s == "locked" and g != generator)
        upper = 1.0 - locked - FLOOR * len(others)
        infeasible = (
            statuses[generator] == "disabled"
            or (not others and abs(weight - (1.0 - locked)) > 1e-9)
            or (others and not FLOOR - 1e-9 <= weight <= upper + 1e-9)
        )
        assert infeasible
        return

    event("manual: applied")
    assert weights[generator] == weight
    assert math.isclose(sum(weights.values()), 1.0, abs_tol=1e-9)
    for name, value in weights.items():
        if name == generator:
            continue
        if statuses[name] == "locked":
            assert value == stored[name]
        elif statuses[name] == "disabled":
            assert value == 0.0
        else:
            assert value >= FLOOR - 1e-12
