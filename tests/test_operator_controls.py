"""The operator controls over generator weights: optimize (with dry run), lock/unlock, manual weight.

No dbt here: each test writes the few rows of `analytics.generator_performance` the optimizer reads (the mart's
columns) straight into a fresh warehouse, on DuckDB and on PostgreSQL, and then calls the controls.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from xbot_assets.learned.checks import floor_problems, locked_weight_problems, weight_sum_problems
from xbot_assets.learned.controls import lock_generator, set_generator_weight, unlock_generator
from xbot_assets.learned.store import frame_rows
from xbot_assets.learned.weights import EVENT_COLUMNS, optimize
from xbot_assets.learning.generator_weights import DEFAULT_WEIGHTS, OptimizerSettings
from xbot_assets.warehouse.connection import Warehouse

NOW = datetime(2026, 2, 1, 12)
ACCOUNT = "main"
FLOOR = OptimizerSettings().floor

# generator → (posts, impressions, followers gained) over the 7-day window
WEEK_ONE = {
    "dataNerd": (8, 8000, 40.0),  # F/1K 5.0
    "mythBuster": (6, 6000, 18.0),  # 3.0
    "humanVoice": (6, 6000, 6.0),  # 1.0
    "coach": (5, 5000, 1.0),  # 0.2
    "storyteller": (4, 4000, 8.0),  # 2.0
}
WEEK_TWO = {**WEEK_ONE, "dataNerd": (10, 9000, 72.0), "coach": (10, 10000, 0.0)}


@pytest.fixture
def wh(warehouse_url) -> Warehouse:
    warehouse = Warehouse.from_url(warehouse_url)
    warehouse.migrate()
    with warehouse.connect() as conn:
        conn.execute("create schema if not exists analytics")
        conn.execute(
            "create table analytics.generator_performance (account_id varchar, generator_name varchar, "
            "time_window varchar, window_start timestamp, window_end timestamp, posts bigint, impressions bigint, "
            "followers_gained double precision, f_per_1k double precision, tier varchar)"
        )
    return warehouse


def set_performance(wh: Warehouse, week: dict, now: datetime = NOW, account: str = ACCOUNT) -> None:
    with wh.connect() as conn:
        conn.execute("delete from analytics.generator_performance where account_id = ?", [account])
        conn.insert_rows(
            "analytics.generator_performance",
            ("account_id", "generator_name", "time_window", "window_start", "window_end", "posts", "impressions",
             "followers_gained", "f_per_1k"),
            [
                (account, name, "7d", now - timedelta(days=7), now, posts, impressions, followers,
                 followers / impressions * 1000)
                for name, (posts, impressions, followers) in week.items()
            ],
        )


def tables(wh: Warehouse) -> dict[str, list]:
    with wh.connect() as conn:
        out = {}
        for table in ("generator_weights", "optimization_events", "generator_performance_history"):
            frame = conn.fetch_df(f"select * from learn.{table}")
            out[table] = sorted(frame_rows(frame, list(frame.columns)), key=repr)
        return out


def weights(wh: Warehouse, account: str = ACCOUNT) -> dict[str, tuple[float, str]]:
    with wh.connect() as conn:
        return {
            g: (float(w), s)
            for g, w, s in conn.fetchall(
                "select generator_name, weight, status from learn.generator_weights where account_id = ?", [account]
            )
        }


def events(wh: Warehouse, account: str = ACCOUNT) -> list[dict]:
    with wh.connect() as conn:
        rows = conn.fetchall(
            f"select {', '.join(EVENT_COLUMNS)} from learn.optimization_events where account_id = ? "
            "order by sequence",
            [account],
        )
    return [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in rows]


def assert_invariants(wh: Warehouse) -> None:
    with wh.connect() as conn:
        assert weight_sum_problems(conn) == []
        assert floor_problems(conn, FLOOR) == []
        assert locked_weight_problems(conn) == []


# ---------------------------------------------------------------------------------------------------------------------


def test_dry_run_returns_the_changes_and_writes_nothing(wh):
    set_performance(wh, WEEK_ONE)
    empty = tables(wh)
    preview = optimize(wh, ACCOUNT, NOW, dry_run=True)
    assert preview.dry_run and not preview.written and preview.event_id is None
    assert preview.status == "applied" and preview.changes
    assert preview.weights_before == DEFAULT_WEIGHTS  # no rows yet: the seed defaults are in use
    assert abs(sum(preview.weights_after.values()) - 1) <= 1e-9
    assert {c["generator"] for c in preview.changes} <= set(preview.weights_after)
    assert all({"old_weight", "new_weight", "change_percent", "reason"} <= set(c) for c in preview.changes)
    assert tables(wh) == empty

    real = optimize(wh, ACCOUNT, NOW)
    assert real.written and real.weights_after == preview.weights_after and real.changes == preview.changes
    assert {g: w for g, (w, _) in weights(wh).items()} == pytest.approx(real.weights_after, abs=1e-15)
    [event] = events(wh)
    assert event["event_type"] == "weight_update" and event["success"]
    assert event["posts_analysed"] == 29 and event["top_performer"] == "dataNerd"
    assert event["bottom_performer"] == "coach" and json.loads(event["changes"]) == real.changes
    with wh.connect() as conn:
        history = conn.fetchall(
            "select generator_name, weight_before, weight_after, posts from learn.generator_performance_history "
            "where event_id = ?",
            [event["event_id"]],
        )
    assert len(history) == 12  # one row per generator of the cycle
    assert_invariants(wh)

    # A dry run now mirrors what a real run would do: nothing, because nothing changed.
    assert optimize(wh, ACCOUNT, NOW, dry_run=True).status == "unchanged_inputs"


def test_a_second_run_on_the_same_performance_does_not_step_again(wh):
    set_performance(wh, WEEK_ONE)
    first = optimize(wh, ACCOUNT, NOW)
    after_first = tables(wh)
    second = optimize(wh, ACCOUNT, NOW + timedelta(hours=6))
    assert second.status == "unchanged_inputs" and not second.written
    assert tables(wh) == after_first

    # New evidence: one more 30% step, from the stored weights.
    set_performance(wh, WEEK_TWO, NOW + timedelta(hours=6))
    third = optimize(wh, ACCOUNT, NOW + timedelta(hours=6))
    assert third.status == "applied"
    assert third.weights_before == pytest.approx(first.weights_after, abs=1e-15)
    assert third.result.details["dataNerd"]["start"] == pytest.approx(first.weights_after["dataNerd"], abs=1e-15)
    assert third.weights_after["dataNerd"] > first.weights_after["dataNerd"]
    assert [e["event_type"] for e in events(wh)] == ["weight_update", "weight_update"]
    assert_invariants(wh)


def test_too_little_data_keeps_the_seed_weights_and_logs_the_skip_once(wh):
    set_performance(wh, {"dataNerd": (3, 3000, 6.0)})
    report = optimize(wh, ACCOUNT, NOW)
    assert report.status == "skipped_insufficient_data" and report.changes == []
    assert {g: w for g, (w, _) in weights(wh).items()} == DEFAULT_WEIGHTS
    [event] = events(wh)
    assert event["event_type"] == "optimization_skipped" and "3 posts < 20" in event["skipped_reason"]
    assert optimize(wh, ACCOUNT, NOW).status == "unchanged_inputs"
    assert len(events(wh)) == 1
    with wh.connect() as conn:
        assert conn.scalar("select count(*) from learn.generator_performance_history") == 0


def test_a_lock_is_honoured_by_later_optimizations(wh):
    set_performance(wh, WEEK_ONE)
    optimize(wh, ACCOUNT, NOW)
    locked_at = weights(wh)["dataNerd"][0]
    lock = lock_generator(wh, ACCOUNT, "dataNerd", NOW + timedelta(hours=1))
    assert lock.event_type == "generator_locked" and lock.statuses["dataNerd"] == "locked"
    assert weights(wh)["dataNerd"] == (locked_at, "locked")
    # The lock changes no weight, so the evidence already used is not used again.
    assert optimize(wh, ACCOUNT, NOW + timedelta(hours=1)).status == "unchanged_inputs"

    # dataNerd turns viral: the optimizer would raise it, but it is locked.
    set_performance(wh, WEEK_TWO, NOW + timedelta(hours=6))
    cycle = optimize(wh, ACCOUNT, NOW + timedelta(hours=6))
    assert cycle.status == "applied" and cycle.changes
    assert cycle.weights_after["dataNerd"] == locked_at
    assert "dataNerd" not in {c["generator"] for c in cycle.changes}
    assert weights(wh)["dataNerd"] == (locked_at, "locked")
    with wh.connect() as conn:
        before, after, status = conn.fetchone(
            "select weight_before, weight_after, status from learn.generator_performance_history "
            "where event_id = ? and generator_name = 'dataNerd'",
            [cycle.event_id],
        )
    assert before == after == locked_at and status == "locked"
    assert_invariants(wh)

    # Unlocked, it moves again at the next cycle with new evidence.
    unlock = unlock_generator(wh, ACCOUNT, "dataNerd", NOW + timedelta(hours=7))
    assert unlock.event_type == "generator_unlocked" and weights(wh)["dataNerd"] == (locked_at, "active")
    set_performance(wh, {**WEEK_TWO, "humanVoice": (8, 8000, 8.0)}, NOW + timedelta(hours=12))
    moved = optimize(wh, ACCOUNT, NOW + timedelta(hours=12))
    assert moved.weights_after["dataNerd"] > locked_at
    with pytest.raises(ValueError, match="not locked"):
        unlock_generator(wh, ACCOUNT, "dataNerd", NOW + timedelta(hours=13))
    assert [e["event_type"] for e in events(wh)] == [
        "weight_update", "generator_locked", "weight_update", "generator_unlocked", "weight_update",
    ]


def test_a_manual_weight_rescales_the_others_keeps_the_floor_and_is_logged(wh):
    set_performance(wh, WEEK_ONE)
    optimize(wh, ACCOUNT, NOW)
    lock_generator(wh, ACCOUNT, "storyteller", NOW)
    before = weights(wh)

    report = set_generator_weight(wh, ACCOUNT, "coach", 0.5, NOW + timedelta(hours=1), reason="campaign")
    after = weights(wh)
    assert after["coach"] == (0.5, "pinned")
    assert after["storyteller"] == before["storyteller"]  # locked: untouched
    assert abs(sum(w for w, _ in after.values()) - 1) <= 1e-9
    assert min(w for w, _ in after.values()) >= FLOOR - 1e-12
    # The others absorb the difference in proportion to their weights, except those held at the floor.
    free = [g for g in after if g not in ("coach", "storyteller") and after[g][0] > FLOOR + 1e-12]
    ratios = {g: after[g][0] / before[g][0] for g in free}
    assert len(free) >= 2 and max(ratios.values()) == pytest.approx(min(ratios.values()), rel=1e-9)
    assert all(r < 1 for r in ratios.values())

    event = events(wh)[-1]
    assert event["event_type"] == "manual_override" and event["created_by"] == "operator" and event["success"]
    changes = {c["generator"]: c for c in json.loads(event["changes"])}
    assert changes["coach"]["new_weight"] == 0.5 and changes["coach"]["reason"] == "campaign"
    assert changes["coach"]["old_weight"] == pytest.approx(before["coach"][0], abs=1e-15)
    assert all("rescaled" in c["reason"] for g, c in changes.items() if g != "coach")
    assert report.weights_after["coach"] == 0.5
    assert_invariants(wh)

    # Honoured: a re-run on the same evidence does not undo it, and neither does new evidence (coach is failing in
    # WEEK_TWO: an active generator would drop); it stays pinned until unlocked, then steps from it.
    assert optimize(wh, ACCOUNT, NOW + timedelta(hours=2)).status == "unchanged_inputs"
    assert weights(wh)["coach"] == (0.5, "pinned")
    set_performance(wh, WEEK_TWO, NOW + timedelta(hours=6))
    cycle = optimize(wh, ACCOUNT, NOW + timedelta(hours=6))
    assert cycle.status == "applied" and cycle.weights_after["coach"] == 0.5
    assert "coach" not in {c["generator"] for c in cycle.changes}
    assert weights(wh)["coach"] == (0.5, "pinned")
    assert_invariants(wh)

    unlock = unlock_generator(wh, ACCOUNT, "coach", NOW + timedelta(hours=7))
    assert unlock.event_type == "generator_unlocked" and weights(wh)["coach"] == (0.5, "active")
    set_performance(wh, {**WEEK_TWO, "humanVoice": (8, 8000, 8.0)}, NOW + timedelta(hours=12))
    moved = optimize(wh, ACCOUNT, NOW + timedelta(hours=12))
    assert moved.result.details["coach"]["start"] == 0.5 and moved.weights_after["coach"] < 0.5
    assert_invariants(wh)


def test_a_pinned_weight_moved_outside_the_controls_is_a_problem(wh):
    set_performance(wh, WEEK_ONE)
    set_generator_weight(wh, ACCOUNT, "coach", 0.3, NOW)
    assert_invariants(wh)
    with wh.connect() as conn:
        conn.execute("update learn.generator_weights set weight = 0.31 where generator_name = 'coach'")
        conn.execute("update learn.generator_weights set weight = weight - 0.01 where generator_name = 'dataNerd'")
        assert locked_weight_problems(conn) == ["main/coach is pinned at 0.300000 but now has 0.310000"]


def test_locking_a_locked_generator_changes_nothing_and_logs_nothing(wh):
    set_performance(wh, WEEK_ONE)
    optimize(wh, ACCOUNT, NOW)
    lock_generator(wh, ACCOUNT, "dataNerd", NOW)
    state = tables(wh)
    again = lock_generator(wh, ACCOUNT, "dataNerd", NOW + timedelta(hours=1))
    assert again.event_id is None and again.changes == [] and "already locked" in again.detail
    assert tables(wh) == state
    # A pinned generator locked keeps its weight, now locked (one event).
    set_generator_weight(wh, ACCOUNT, "coach", 0.2, NOW)
    lock_generator(wh, ACCOUNT, "coach", NOW)
    assert weights(wh)["coach"] == (0.2, "locked")
    assert [e["event_type"] for e in events(wh)] == ["weight_update", "generator_locked", "manual_override",
                                                      "generator_locked"]
    assert_invariants(wh)


def test_an_infeasible_manual_weight_is_refused_and_writes_nothing(wh):
    set_performance(wh, WEEK_ONE)
    optimize(wh, ACCOUNT, NOW)
    state = tables(wh)
    with pytest.raises(ValueError, match="infeasible"):
        set_generator_weight(wh, ACCOUNT, "coach", 0.9, NOW)  # 11 others need 0.22 at the floor
    with pytest.raises(ValueError, match="unknown generator"):
        set_generator_weight(wh, ACCOUNT, "nobody", 0.1, NOW)
    assert tables(wh) == state


def test_an_optimizer_error_is_logged_once_as_a_failed_event(wh):
    set_performance(wh, WEEK_ONE)
    set_generator_weight(wh, ACCOUNT, "humanVoice", 0.5, NOW)
    lock_generator(wh, ACCOUNT, "humanVoice", NOW)
    strict = OptimizerSettings(floor=0.05)  # 11 active generators × 0.05 > the 0.5 the lock leaves
    report = optimize(wh, ACCOUNT, NOW, settings=strict)
    assert report.status == "failed" and "floor" in report.error and report.written
    event = events(wh)[-1]
    assert event["event_type"] == "optimization_failed" and not event["success"] and "floor" in event["error_message"]
    again = optimize(wh, ACCOUNT, NOW, settings=strict)
    assert again.status == "failed" and not again.written and again.error == report.error
    assert len(events(wh)) == 3
    assert weights(wh)["humanVoice"] == (0.5, "locked")
    # The operator fixes the cause: the same evidence is tried again from the new state.
    unlock_generator(wh, ACCOUNT, "humanVoice", NOW)
    retried = optimize(wh, ACCOUNT, NOW, settings=strict)
    assert retried.status == "applied" and min(retried.weights_after.values()) >= 0.05 - 1e-12
    assert [e["event_type"] for e in events(wh)][-2:] == ["generator_unlocked", "weight_update"]


def test_weights_edited_outside_the_controls_trigger_a_new_cycle(wh):
    set_performance(wh, WEEK_ONE)
    optimize(wh, ACCOUNT, NOW)
    with wh.connect() as conn:
        conn.execute("update learn.generator_weights set weight = weight + 0.01 where generator_name = 'coach'")
        conn.execute("update learn.generator_weights set weight = weight - 0.01 where generator_name = 'humanVoice'")
    assert optimize(wh, ACCOUNT, NOW).status == "applied"
    assert optimize(wh, ACCOUNT, NOW).status == "unchanged_inputs"


def test_accounts_are_optimized_separately(wh):
    set_performance(wh, WEEK_ONE, account="main")
    set_performance(wh, {"coach": (30, 30000, 90.0)}, account="other")
    optimize(wh, "main", NOW)
    lock_generator(wh, "other", "coach", NOW)
    assert weights(wh, "other")["coach"] == (DEFAULT_WEIGHTS["coach"], "locked")
    assert weights(wh, "main")["coach"][1] == "active"
    # The lock came before any cycle, so this evidence is still unused: the cycle runs, around the lock.
    report = optimize(wh, "other", NOW)
    assert report.status == "applied" and report.weights_after["coach"] == DEFAULT_WEIGHTS["coach"]
    assert optimize(wh, "other", NOW).status == "unchanged_inputs"
    assert [e["event_type"] for e in events(wh, "other")] == ["generator_locked", "weight_update"]
    assert [e["event_type"] for e in events(wh, "main")] == ["weight_update"]
    assert_invariants(wh)
