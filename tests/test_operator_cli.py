"""The operator's CLI: `xbot status`, `xbot health`, `xbot optimize` and `xbot weights`, and the health rules.

The rules (`evaluate_health`) are a pure function: each is tested on hand-made inputs. The commands run on
real data: 30 simulated days of the default scenario, loaded into DuckDB and materialized once for this module by
`refresh_job` through Dagster (so the dashboard has a real run to show); each test works on its own copy of that
warehouse and of the Dagster instance.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from xbot_assets.acting.accounts import Account, register_account
from xbot_assets.learned.checks import locked_weight_problems
from xbot_assets.learned.models import MODEL_NAMES
from xbot_assets.learned.store import frame_rows
from xbot_assets.learning.generator_weights import DEFAULT_WEIGHTS
from xbot_assets.operator.cli import main
from xbot_assets.operator.health import (
    CLOCK_AS_OF,
    CLOCK_DATA,
    CLOCK_WALL,
    CRITICAL,
    DEGRADED,
    HEALTHY,
    INFO,
    NO_ACCOUNTS_REASON,
    CycleEvent,
    GeneratorState,
    HealthInput,
    JobRun,
    ModelState,
    choose_clock,
    evaluate_health,
    evaluate_jobs,
    overall_status,
)
from xbot_assets.runtime.instance import definitions, run_job
from xbot_assets.warehouse.connection import Warehouse

END = datetime(2026, 1, 31)  # the end of the 30 simulated days; refresh_job learned at this time
AS_OF = "2026-01-31T06:00:00Z"  # six hours later: the last optimization is fresh
ACCOUNT = "main"
KNOWN_JOBS = ["refresh_job", "learn_and_plan_job", "publish_job", "collect_metrics_job", "follower_snapshot_job"]


# ---------------------------------------------------------------------------------------------------------------------
# The health rules, on hand-made data

NOW = datetime(2026, 3, 1, 12)
NAMES = list(DEFAULT_WEIGHTS)


def healthy(**changes) -> HealthInput:
    """An account that passes every rule: 12 generators at 1/12, 3 posts each, fresh optimization, good models."""
    base = HealthInput(
        account_id="acct",
        now=NOW,
        enabled=True,
        generators=tuple(GeneratorState(n, 1 / 12, "active", 3) for n in NAMES),
        last_optimization_at=NOW - timedelta(hours=2),
        newest_cycle=CycleEvent("weight_update", True, NOW - timedelta(hours=2)),
        models=(ModelState("engagement_ridge", 3, True, "mae", 0.01, 0.02),
                ModelState("follow_poisson", 2, True, "brier", 0.15, 0.2)),
        last_outcome_at=NOW - timedelta(hours=3),
        last_measured_at=NOW - timedelta(hours=1),
    )
    return replace(base, **changes)


def rules_fired(verdict) -> dict[str, set[str]]:
    fired: dict[str, set[str]] = {}
    for f in verdict.findings:
        fired.setdefault(f.rule, set()).add(f.severity)
    return fired


def with_posts(posts: dict[str, int], weight: float | None = None) -> tuple[GeneratorState, ...]:
    return tuple(GeneratorState(n, weight or 1 / 12, "active", posts.get(n, 0)) for n in NAMES)


def test_a_healthy_account_has_no_finding():
    verdict = evaluate_health(healthy())
    assert verdict.status == HEALTHY
    assert verdict.findings == ()
    assert verdict.reasons == []


def test_missing_weights_are_critical():
    verdict = evaluate_health(healthy(generators=()))
    assert verdict.status == CRITICAL
    assert rules_fired(verdict) == {"weights_missing": {CRITICAL}}
    assert "default weights" in verdict.reasons[0]


def test_a_static_account_is_not_judged_on_learning_it_does_not_do():
    """The baseline account plans from the seed defaults: no weights, optimization or models is its normal state
    (one note), while its posting is still judged."""
    bare = healthy(generators=(), last_optimization_at=None, newest_cycle=None, models=(), static=True)
    verdict = evaluate_health(bare)
    assert verdict.status == HEALTHY and rules_fired(verdict) == {"static_policy": {INFO}}
    assert rules_fired(evaluate_health(replace(bare, static=False)))["weights_missing"] == {CRITICAL}
    silent = evaluate_health(replace(bare, last_outcome_at=NOW - timedelta(days=3)))
    assert rules_fired(silent)["no_recent_outcomes"] == {CRITICAL}


def test_posterior_sampling_is_judged_by_its_own_probabilities_not_coverage():
    """Posterior sampling concentrates on the best generator by design: low coverage is a note, and a generator it
    should have drawn but never did is still degraded."""
    posts = {"dataNerd": 25, "mythBuster": 2}
    sampling = {n: 0.0005 for n in NAMES} | {"dataNerd": 0.9, "mythBuster": 0.05}
    verdict = evaluate_health(healthy(generators=with_posts(posts), sampling=sampling))
    assert verdict.status == HEALTHY and rules_fired(verdict) == {"coverage": {INFO}, "unused_generator": {INFO}}
    assert rules_fired(evaluate_health(healthy(generators=with_posts(posts))))["coverage"] == {CRITICAL}
    missed = evaluate_health(healthy(generators=with_posts(posts), sampling=sampling | {"coach": 0.2}))
    assert rules_fired(missed)["unused_generator"] == {DEGRADED, INFO}
    assert any("coach (P(sampling picks) 20.0%)" in r for r in missed.reasons)


def test_weights_not_summing_to_one_are_critical():
    verdict = evaluate_health(healthy(sum_problems=("acct: weights sum to 1.1 (12 generators)",)))
    assert verdict.status == CRITICAL
    assert rules_fired(verdict) == {"weights_sum": {CRITICAL}}
    assert "weights sum to 1.1" in verdict.reasons[0]


def test_a_moved_lock_is_critical():
    verdict = evaluate_health(healthy(locked_problems=("acct/coach is locked at 0.100000 but now has 0.200000",)))
    assert verdict.status == CRITICAL
    assert rules_fired(verdict) == {"locked_weight_moved": {CRITICAL}}
    assert "acct/coach is locked" in verdict.reasons[0]


def test_a_weight_below_the_floor_is_degraded():
    verdict = evaluate_health(healthy(floor_problems=("acct/coach (active) has weight 0.010000 < floor 0.02",)))
    assert verdict.status == DEGRADED
    assert rules_fired(verdict) == {"below_floor": {DEGRADED}}


def test_few_generators_in_use_are_degraded():
    generators = tuple(
        GeneratorState(n, 1 / 9 if i < 9 else 0.0, "active" if i < 9 else "disabled", 3 if i < 9 else 0)
        for i, n in enumerate(NAMES)
    )
    verdict = evaluate_health(healthy(generators=generators))
    assert verdict.status == DEGRADED
    assert rules_fired(verdict) == {"few_generators": {DEGRADED}}
    assert "only 9 generators" in verdict.reasons[0]


def test_generator_coverage_degraded_under_80_and_critical_under_50_percent():
    nine = evaluate_health(healthy(generators=with_posts({n: 2 for n in NAMES[:9]})))  # 9/12 = 75%
    assert nine.status == DEGRADED
    assert rules_fired(nine)["coverage"] == {DEGRADED}
    assert any("coverage 9/12 (75%)" in r for r in nine.reasons)

    five = evaluate_health(healthy(generators=with_posts({n: 4 for n in NAMES[:5]})))  # 5/12 = 42%
    assert five.status == CRITICAL
    assert rules_fired(five)["coverage"] == {CRITICAL}

    # Three posts can cover at most three generators: full coverage of what was possible.
    few = evaluate_health(healthy(generators=with_posts({n: 1 for n in NAMES[:3]})))
    assert "coverage" not in rules_fired(few)
    # No post in the window: coverage is not judged (no_recent_outcomes speaks for enabled accounts).
    assert "coverage" not in rules_fired(evaluate_health(healthy(generators=with_posts({}))))


def test_an_unused_generator_is_degraded_only_when_its_weight_made_a_miss_improbable():
    heavy = tuple(
        GeneratorState(n, 0.45 if n == "dataNerd" else 0.05, "active", 0 if n == "dataNerd" else 2) for n in NAMES
    )
    verdict = evaluate_health(healthy(generators=heavy))  # 22 posts at 45%: a miss has probability 0.55^22
    assert verdict.status == DEGRADED
    assert rules_fired(verdict) == {"unused_generator": {DEGRADED}}
    assert "dataNerd" in verdict.reasons[0] and "seems not to follow the weights" in verdict.reasons[0]
    assert "probability < 0.1%" in verdict.reasons[0]

    light = tuple(
        GeneratorState(n, 0.02 if n == "philosopher" else 0.98 / 11, "active", 0 if n == "philosopher" else 3)
        for n in NAMES
    )
    verdict = evaluate_health(healthy(generators=light))  # 33 posts at 2%: a miss has probability 51%
    assert verdict.status == HEALTHY
    assert rules_fired(verdict) == {"unused_generator": {INFO}}
    assert "philosopher" in verdict.notes[0]


def test_a_failed_newest_optimization_is_critical():
    failed = CycleEvent("optimization_failed", False, NOW - timedelta(hours=1), "locked mass exceeds 1")
    verdict = evaluate_health(healthy(newest_cycle=failed))
    assert verdict.status == CRITICAL
    assert rules_fired(verdict) == {"optimization_failed": {CRITICAL}}
    assert "locked mass exceeds 1" in verdict.reasons[0]


def test_no_optimization_in_12_hours_is_degraded_when_there_was_new_evidence():
    stale = NOW - timedelta(hours=13)
    cycle = CycleEvent("weight_update", True, stale)
    verdict = evaluate_health(healthy(last_optimization_at=stale, newest_cycle=cycle))
    assert verdict.status == DEGRADED
    assert rules_fired(verdict) == {"optimization_stale": {DEGRADED}}
    assert "12 h" in verdict.reasons[0]

    # Nothing posted or measured since the last cycle: a cycle would have had nothing to learn from.
    quiet = healthy(last_optimization_at=stale, newest_cycle=CycleEvent("weight_update", True, stale),
                    last_outcome_at=stale - timedelta(hours=5), last_measured_at=stale - timedelta(hours=1),
                    enabled=None)
    assert rules_fired(evaluate_health(quiet)) == {"optimization_stale": {INFO}}
    # Exactly 12 hours is still fresh.
    edge = NOW - timedelta(hours=12)
    assert evaluate_health(healthy(last_optimization_at=edge)).status == HEALTHY
    # Never optimized: degraded with outcomes to learn from, a note without.
    assert rules_fired(evaluate_health(healthy(last_optimization_at=None, newest_cycle=None))) == {
        "optimization_stale": {DEGRADED}}
    assert rules_fired(evaluate_health(healthy(last_optimization_at=None, newest_cycle=None, last_outcome_at=None,
                                               last_measured_at=None, enabled=None))) == {"optimization_stale": {INFO}}


def test_a_model_losing_to_its_baseline_is_degraded():
    models = (ModelState("engagement_ridge", 3, True, "mae", 0.01, 0.02),
              ModelState("follow_poisson", 4, False, "brier", 0.25, 0.2))
    verdict = evaluate_health(healthy(models=models))
    assert verdict.status == DEGRADED
    assert rules_fired(verdict) == {"model_below_baseline": {DEGRADED}}
    assert "follow_poisson v4" in verdict.reasons[0] and "0.25" in verdict.reasons[0]

    # A model never trained is a note: planning uses the seed defaults, which is expected early on.
    verdict = evaluate_health(healthy(models=models[:1]))
    assert verdict.status == HEALTHY
    assert rules_fired(verdict) == {"model_missing": {INFO}}


def test_an_enabled_account_without_outcomes_in_24_hours_is_critical():
    late = healthy(last_outcome_at=NOW - timedelta(hours=25))
    verdict = evaluate_health(late)
    assert verdict.status == CRITICAL
    assert rules_fired(verdict) == {"no_recent_outcomes": {CRITICAL}}
    assert "24 h" in verdict.reasons[0]
    assert evaluate_health(healthy(last_outcome_at=None, last_measured_at=None)).status == CRITICAL
    # Only enabled accounts are expected to post.
    assert evaluate_health(replace(late, enabled=False)).status == HEALTHY
    assert evaluate_health(replace(late, enabled=None)).status == HEALTHY


def test_the_worst_verdict_wins_and_no_account_is_critical():
    good, bad = evaluate_health(healthy()), evaluate_health(healthy(generators=()))
    degraded = evaluate_health(healthy(floor_problems=("acct/x low",)))
    assert overall_status([good]) == HEALTHY
    assert overall_status([good, degraded]) == DEGRADED
    assert overall_status([degraded, bad, good]) == CRITICAL
    assert overall_status([]) == CRITICAL


def test_a_failed_newest_run_is_degraded_and_two_in_a_row_of_a_learning_or_publishing_job_critical():
    ok, boom = JobRun("publish_job", "r3", "SUCCESS"), JobRun("publish_job", "r2", "FAILURE", "publish: 402 credits")
    assert evaluate_jobs([ok, boom]).status == HEALTHY  # the newest run succeeded: recovered

    once = evaluate_jobs([boom, JobRun("publish_job", "r1", "SUCCESS")])
    assert once.status == DEGRADED
    assert once.reasons == ["[degraded] job_failed: the newest run of publish_job failed: run r2: publish: 402 credits"]

    for job in ("publish_job", "refresh_job", "optimize_job", "retrain_job", "learn_and_plan_job"):
        twice = evaluate_jobs([JobRun(job, "b", "FAILURE", "step: boom"), JobRun(job, "a", "FAILURE")])
        assert twice.status == CRITICAL and "failed twice in a row: runs b and a" in twice.reasons[0]
    # Collecting failing twice is bad, but the loop still learns and posts.
    assert evaluate_jobs([JobRun("collect_metrics_job", "b", "FAILURE"),
                          JobRun("collect_metrics_job", "a", "FAILURE")]).status == DEGRADED
    # A run still going has no verdict yet: the newest finished ones are judged.
    running = evaluate_jobs([JobRun("publish_job", "r4", "STARTED"), boom, JobRun("publish_job", "r1", "FAILURE")])
    assert running.status == CRITICAL and "runs r2 and r1" in running.reasons[0]
    assert "no step error recorded" in evaluate_jobs([JobRun("plan_job", "x", "FAILURE")]).reasons[0]


def test_the_clock_is_as_of_else_the_wall_unless_the_data_lies_in_the_past():
    wall = datetime(2026, 12, 2, 10)
    assert choose_clock(wall, END, as_of=END + timedelta(hours=6)).source == CLOCK_AS_OF
    live = choose_clock(wall, wall - timedelta(minutes=20))
    assert live.source == CLOCK_WALL and live.now == wall and live.cutoff == wall and live.lag is None
    assert choose_clock(wall, None).source == CLOCK_WALL
    past = choose_clock(wall, END)
    assert past.source == CLOCK_DATA and past.now == END
    assert past.cutoff == wall  # the operator's actions since (on the wall clock) still count
    assert "the warehouse's newest data" in past.describe() and "2026-12-02 10:00" in past.describe()

    # Judged at the data's time, an account live on X whose loop went quiet is degraded; a simulated one, a note.
    lagging = healthy(data_clock_lag=wall - NOW, connector="x-api")
    assert rules_fired(evaluate_health(lagging)) == {"data_clock": {DEGRADED}}
    assert "is its loop running?" in evaluate_health(lagging).reasons[0]
    assert rules_fired(evaluate_health(replace(lagging, connector="simulator"))) == {"data_clock": {INFO}}
    assert rules_fired(evaluate_health(replace(lagging, enabled=None, connector=None))) == {"data_clock": {INFO}}


# ---------------------------------------------------------------------------------------------------------------------
# The commands, on a warehouse built by refresh_job


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """30 simulated days of `main`, materialized once by refresh_job at END (warehouse + Dagster instance)."""
    from xbot_assets.evaluation.static_history import simulate_static_history
    from xbot_assets.ingest.load import write_follower_snapshots, write_posts
    from xbot_assets.ingest.metrics import write_metric_snapshots
    from xbot_assets.simulation.scenario import load_scenario

    root = tmp_path_factory.mktemp("operator")
    url = str(root / "warehouse.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XBOT_WAREHOUSE", url)
        mp.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        mp.delenv("XBOT_REDIS_URL", raising=False)
        definitions.cache_clear()
        try:
            wh = Warehouse.from_url(url)
            wh.migrate()
            history = simulate_static_history(load_scenario("default"), 30, ACCOUNT)
            with wh.connect() as conn:
                write_posts(conn, history.posts, now=END)
                write_metric_snapshots(conn, history.metric_snapshots, now=END)
                write_follower_snapshots(conn, history.follower_snapshots, now=END)
            result = run_job("refresh_job", now=END, console_log_level="WARNING")
            assert result.success
        finally:
            definitions.cache_clear()
    return root


@pytest.fixture
def wh(built, duckdb_url, tmp_path, monkeypatch) -> Warehouse:
    """This test's own copy of the built warehouse and Dagster instance."""
    shutil.copyfile(built / "warehouse.duckdb", duckdb_url)
    shutil.copytree(built / "dagster_home", tmp_path / "dagster_home")
    monkeypatch.setenv("XBOT_WAREHOUSE", duckdb_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("XBOT_REDIS_URL", raising=False)
    return Warehouse.from_url(duckdb_url)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def weights(wh: Warehouse, account: str = ACCOUNT) -> dict[str, tuple[float, str]]:
    with wh.connect() as conn:
        return {g: (float(w), s) for g, w, s in conn.fetchall(
            "select generator_name, weight, status from learn.generator_weights where account_id = ?", [account])}


def events(wh: Warehouse, account: str = ACCOUNT) -> list[tuple]:
    with wh.connect() as conn:
        return conn.fetchall(
            "select event_type, created_by, success, created_at from learn.optimization_events where account_id = ? "
            "order by sequence", [account])


def learned_tables(wh: Warehouse) -> dict[str, list]:
    with wh.connect() as conn:
        out = {}
        for table in ("generator_weights", "optimization_events", "generator_performance_history"):
            frame = conn.fetch_df(f"select * from learn.{table}")
            out[table] = sorted(frame_rows(frame, list(frame.columns)), key=repr)
        return out


def test_status_shows_generators_arms_models_jobs_and_health(wh, capsys):
    code, out, _ = run(capsys, "status", "--as-of", AS_OF)
    assert code == 0
    for heading in ("generators (learning window 7d", "content arms", "timing arms", "models (newest version",
                    "generator posteriors", "optimization events", "jobs (newest run)"):
        assert heading in out
    assert "health: DEGRADED" in out  # the follow model loses to its baseline on this history
    assert "follow_poisson v1 does not beat its baseline" in out
    for name in DEFAULT_WEIGHTS:
        assert f"| {name} | active |" in out
    assert "| content_educational_thread |" in out and "| engagement_ridge | 1 | mae |" in out
    assert "| refresh_job | SUCCESS |" in out and "| publish_job | never run |" in out
    assert "20 unplayed hours" in out


def test_status_json_has_every_section(wh, capsys):
    code, out, _ = run(capsys, "status", "--json", "--as-of", AS_OF)
    assert code == 0
    status = json.loads(out)
    assert status["as_of"] == "2026-01-31T06:00:00"
    assert status["health"]["status"] == DEGRADED
    (account,) = status["accounts"]
    assert account["account_id"] == ACCOUNT and account["registered"] is False
    generators = {g["generator"]: g for g in account["generators"]}
    assert set(generators) == set(DEFAULT_WEIGHTS)
    assert sum(g["weight"] for g in generators.values()) == pytest.approx(1.0)
    posted = sum(g["posted_all_time"] for g in generators.values())
    assert posted == 120  # 30 days × 4 posts
    assert all(g["f_per_1k_all_time"] is not None for g in generators.values())
    assert len(account["content_arms"]) == 4
    assert all(0 <= a["selection_probability"] <= 1 for a in account["content_arms"])
    assert sum(a["selection_probability"] for a in account["content_arms"]) == pytest.approx(1.0, abs=1e-6)
    timing = account["timing_arms"]
    assert [t["hour"] for t in timing] == list(range(24))
    assert all((t["ucb_index"] is None) == (t["plays"] == 0) for t in timing)
    assert {m["model_name"] for m in account["models"]} == set(MODEL_NAMES)
    assert {m["model_name"]: m["beats_baseline"] for m in account["models"]} == {
        "engagement_ridge": True, "follow_poisson": False}
    assert len(account["generator_posteriors"]) == 12
    assert account["optimization_events"][0]["event_type"] == "weight_update"
    assert account["health"]["status"] == DEGRADED
    jobs = {j["job"]: j for j in status["jobs"]}
    assert [j["job"] for j in status["jobs"]][:5] == KNOWN_JOBS
    assert jobs["refresh_job"]["status"] == "SUCCESS" and jobs["refresh_job"]["start_time"]
    assert jobs["publish_job"]["status"] == "never run"


def test_status_reads_each_warehouse_wide_table_once(wh, capsys, monkeypatch):
    """The model registry, the static accounts and the weight checks read every account: read once per command, not
    once per account and again for its health (they were: N accounts asked each 2N times)."""
    from xbot_assets.warehouse.connection import Connection

    asked: list[str] = []
    for method in ("fetchall", "fetch_df"):
        real = getattr(Connection, method)

        def spy(self, sql, params=None, _real=real):
            asked.append(" ".join(sql.split()))
            return _real(self, sql, params)

        monkeypatch.setattr(Connection, method, spy)
    code, out, _ = run(capsys, "status", "--json", "--no-jobs", "--as-of", AS_OF)
    assert code == 0 and json.loads(out)["accounts"][0]["models"]
    for table_read in ("from learn.model_registry order by", "from act.accounts where policy = 'static'",
                       "from learn.generator_weights group by account_id"):
        assert sum(table_read in sql for sql in asked) == 1, table_read


def test_status_of_an_unknown_account_is_a_clear_error(wh, capsys):
    code, _, err = run(capsys, "status", "--account", "nobody", "--no-jobs")
    assert code == 2
    assert "unknown account 'nobody' (known: main)" in err


def test_optimize_dry_run_writes_nothing_and_optimize_logs_its_cycle(wh, capsys):
    before = learned_tables(wh)
    code, out, _ = run(capsys, "optimize", "--dry-run", "--as-of", AS_OF)
    assert code == 0
    assert "unchanged_inputs" in out and "nothing to do" in out  # refresh_job already ran this cycle
    code, out, _ = run(capsys, "optimize", "--dry-run", "--force", "--as-of", AS_OF)
    assert code == 0
    assert "dry run (nothing written)" in out and "would change" in out
    assert "stepped 30% from" in out  # each change comes with its reason
    assert learned_tables(wh) == before

    # A real run on the same evidence and weights does nothing, and says why.
    code, out, _ = run(capsys, "optimize", "--as-of", AS_OF)
    assert code == 0 and "unchanged_inputs" in out
    assert learned_tables(wh) == before

    start = weights(wh)
    code, out, _ = run(capsys, "optimize", "--force", "--as-of", AS_OF)
    assert code == 0
    assert "applied" in out and "logged as optimization event" in out
    assert events(wh)[-1][:3] == ("weight_update", "optimizer", True)
    assert weights(wh) != start


def test_a_locked_generator_keeps_its_weight_through_optimize(wh, capsys):
    start = weights(wh)
    code, out, _ = run(capsys, "weights", "lock", "dataNerd", "--as-of", AS_OF)
    assert code == 0
    assert "generator_locked dataNerd" in out and "| dataNerd | locked |" in out
    assert weights(wh)["dataNerd"] == (start["dataNerd"][0], "locked")

    code, out, _ = run(capsys, "optimize", "--force", "--as-of", AS_OF)
    assert code == 0 and "applied" in out
    assert "locked (kept as they are): dataNerd" in out
    after = weights(wh)
    assert after["dataNerd"] == (start["dataNerd"][0], "locked")  # exactly
    assert any(abs(after[g][0] - start[g][0]) > 1e-6 for g in start if g != "dataNerd")
    assert sum(w for w, _ in after.values()) == pytest.approx(1.0, abs=1e-9)
    assert [e[0] for e in events(wh)][-2:] == ["generator_locked", "weight_update"]
    with wh.connect() as conn:
        assert locked_weight_problems(conn) == []

    code, out, _ = run(capsys, "weights", "set", "coach", "0.2", "--as-of", AS_OF)
    assert code == 0
    assert "manual_override coach" in out and "| coach | pinned |" in out and "20.0%" in out
    after = weights(wh)
    assert after["coach"][0] == pytest.approx(0.2) and after["dataNerd"][0] == start["dataNerd"][0]
    assert sum(w for w, _ in after.values()) == pytest.approx(1.0, abs=1e-9)

    code, out, _ = run(capsys, "weights", "unlock", "dataNerd", "--as-of", AS_OF)
    assert code == 0 and "generator_unlocked dataNerd" in out
    assert weights(wh)["dataNerd"][1] == "active"
    assert [(e[0], e[1]) for e in events(wh)][-2:] == [("manual_override", "operator"),
                                                       ("generator_unlocked", "operator")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["weights", "set", "coach", "1.5"], "WEIGHT must be between 0 and 1, got 1.5"),
        (["weights", "set", "coach", "-0.1"], "WEIGHT must be between 0 and 1"),
        (["weights", "set", "coach", "nan"], "WEIGHT must be between 0 and 1"),
        (["weights", "set", "coach", "lots"], "WEIGHT must be a number"),
        (["weights", "set", "coach"], "set needs a WEIGHT"),
        (["weights", "set", "nobody", "0.3"], "unknown generator 'nobody'"),
        (["weights", "lock", "nobody"], "unknown generator 'nobody'"),
        (["weights", "lock", "coach", "0.3"], "lock takes no WEIGHT"),
        (["weights", "unlock", "coach"], "coach is active, not locked"),
        (["weights", "set", "coach", "0.01"], "infeasible"),  # below the 2% floor
        (["weights", "set", "coach", "0.2", "--account", "nobody"], "unknown account 'nobody'"),
        (["optimize", "--account", "nobody"], "unknown account 'nobody'"),
        (["health", "--as-of", "yesterday"], "--as-of"),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(wh, capsys, argv, message):
    before = learned_tables(wh)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert learned_tables(wh) == before


def test_optimize_runs_for_every_account_and_weights_finds_the_account_of_its_generator(wh, capsys):
    register_account(wh, Account("second"), END)
    before = learned_tables(wh)
    code, out, _ = run(capsys, "optimize", "--dry-run", "--force", "--as-of", AS_OF)
    assert code == 0
    assert "account main: would apply" in out and "account second: skipped_insufficient_data" in out
    assert "applied" not in out  # a dry run applies nothing, and never says so
    assert learned_tables(wh) == before

    # Both accounts have coach (second starts from the defaults): ambiguous, so the accounts are listed.
    code, _, err = run(capsys, "weights", "lock", "coach")
    assert code == 2 and "generator 'coach' is in several accounts (main, second): say which with --account" in err
    assert learned_tables(wh) == before
    code, out, _ = run(capsys, "weights", "lock", "coach", "--account", "second", "--as-of", AS_OF)
    assert code == 0 and "account second: generator_locked coach" in out  # starts from the seed defaults
    assert weights(wh, "second")["coach"] == (DEFAULT_WEIGHTS["coach"], "locked")

    # A generator only one account has is unambiguous.
    with wh.connect() as conn:
        conn.execute("update learn.generator_weights set generator_name = 'coachPlus' "
                     "where account_id = 'main' and generator_name = 'coach'")
    code, out, _ = run(capsys, "weights", "lock", "coachPlus", "--as-of", AS_OF)
    assert code == 0 and "account main: generator_locked coachPlus" in out
    code, _, err = run(capsys, "weights", "lock", "nobody")
    assert code == 2 and "unknown generator 'nobody' in every account (main, second)" in err


def test_a_set_weight_is_pinned_until_unlocked_and_a_second_lock_changes_nothing(wh, capsys):
    code, out, _ = run(capsys, "weights", "set", "coach", "0.2", "--as-of", AS_OF)
    assert code == 0 and "manual_override coach" in out and "| coach | pinned |" in out
    code, out, _ = run(capsys, "optimize", "--force", "--as-of", AS_OF)
    assert code == 0 and "account main: applied" in out
    assert "pinned by `xbot weights set` (kept until unlocked): coach" in out
    assert weights(wh)["coach"] == (0.2, "pinned")
    with wh.connect() as conn:
        assert locked_weight_problems(conn) == []
    code, out, _ = run(capsys, "status", "--no-jobs", "--as-of", AS_OF)
    assert "| coach | pinned | 20.0% |" in out

    code, out, _ = run(capsys, "weights", "lock", "dataNerd", "--as-of", AS_OF)
    assert code == 0
    n_events = len(events(wh))
    code, out, _ = run(capsys, "weights", "lock", "dataNerd", "--as-of", AS_OF)
    assert code == 0 and "dataNerd already locked at weight" in out and "no event logged" in out
    assert len(events(wh)) == n_events

    code, out, _ = run(capsys, "weights", "unlock", "coach", "--as-of", AS_OF)
    assert code == 0 and weights(wh)["coach"] == (0.2, "active")
    code, out, _ = run(capsys, "optimize", "--force", "--as-of", AS_OF)
    assert weights(wh)["coach"][0] != pytest.approx(0.2)  # the optimizer has it back


def test_health_exit_codes_follow_the_verdict(wh, capsys):
    # As built: the follow model loses to its baseline (degraded); nothing else fires.
    code, out, _ = run(capsys, "health", "--as-of", AS_OF)
    assert code == 1
    assert "health: DEGRADED" in out and "model_below_baseline" in out and "[critical]" not in out

    with wh.connect() as conn:
        conn.execute("update learn.model_registry set beats_baseline = true")
    code, out, _ = run(capsys, "health", "--as-of", AS_OF)
    assert code == 0 and "health: HEALTHY" in out

    code, out, _ = run(capsys, "health", "--json", "--as-of", AS_OF)
    verdict = json.loads(out)
    assert code == 0 and verdict["status"] == HEALTHY and verdict["exit_code"] == 0
    assert verdict["accounts"][0]["reasons"] == []

    # Weights edited outside the controls so they no longer sum to 1: critical.
    with wh.connect() as conn:
        conn.execute("update learn.generator_weights set weight = weight * 1.5 where generator_name = 'coach'")
    code, out, _ = run(capsys, "health", "--as-of", AS_OF)
    assert code == 2
    assert "[critical] weights_sum" in out and "main: weights sum to" in out


def test_health_of_an_enabled_account_without_weights_or_recent_posts_is_critical(wh, capsys):
    register_account(wh, Account(ACCOUNT), END)  # now an enabled account: it is expected to post
    code, out, _ = run(capsys, "health", "--as-of", AS_OF)
    assert code == 1 and "no_recent_outcomes" not in out  # the newest post is 11 hours old

    code, out, _ = run(capsys, "health", "--as-of", "2026-02-01T12:00:00Z")
    assert code == 2
    assert "[critical] no_recent_outcomes" in out and "last 24 h" in out
    assert "note optimization_stale" in out  # stale, but nothing new was measured since: only a note

    with wh.connect() as conn:
        conn.execute("delete from learn.generator_weights where account_id = ?", [ACCOUNT])
    code, out, _ = run(capsys, "health", "--account", ACCOUNT, "--as-of", AS_OF)
    assert code == 2 and "[critical] weights_missing" in out


def test_health_help_documents_the_severities(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["health", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "0 healthy, 1 degraded, 2 critical" in out
    for rule in ("weights_missing", "weights_sum", "locked_weight_moved", "optimization_failed", "no_recent_outcomes",
                 "coverage", "below_floor", "optimization_stale", "unused_generator", "model_below_baseline",
                 "few_generators"):
        assert rule in out
    assert out.index("critical (") < out.index("weights_sum") < out.index("degraded (") < out.index("below_floor")


def fail_a_run(job_name: str, message: str) -> str:
    """A real failed run of a job named `job_name` in this test's Dagster instance (its step raises `message`)."""
    import dagster as dg

    from xbot_assets.runtime.instance import instance

    @dg.op(name="send")
    def send():
        raise RuntimeError(message)

    @dg.job(name=job_name)
    def job():
        send()

    result = job.execute_in_process(instance=instance(), raise_on_error=False)
    assert not result.success
    return result.run_id


def test_a_failed_job_run_makes_health_degraded_and_two_in_a_row_critical(wh, capsys):
    with wh.connect() as conn:
        conn.execute("update learn.model_registry set beats_baseline = true")  # the warehouse alone is healthy
    code, out, _ = run(capsys, "health", "--as-of", AS_OF)
    assert code == 0 and "dagster jobs: healthy" in out

    first = fail_a_run("publish_job", "X answered 402: credits spent")
    code, out, _ = run(capsys, "health", "--as-of", AS_OF)
    assert code == 1 and "health: DEGRADED" in out
    assert f"[degraded] job_failed: the newest run of publish_job failed: run {first}: send: RuntimeError: X answered " \
           "402: credits spent" in out

    second = fail_a_run("publish_job", "X answered 402 again")
    code, out, _ = run(capsys, "health", "--json", "--as-of", AS_OF)
    verdict = json.loads(out)
    assert code == 2 and verdict["status"] == CRITICAL and verdict["jobs"]["status"] == CRITICAL
    assert f"runs {second} and {first}" in verdict["jobs"]["reasons"][0]
    assert run(capsys, "health", "--no-jobs", "--as-of", AS_OF)[0] == 0  # the warehouse alone

    code, out, _ = run(capsys, "status", "--as-of", AS_OF)
    assert "health: CRITICAL" in out and "dagster jobs: [critical] job_failed: publish_job failed twice" in out
    assert "| publish_job | FAILURE |" in out


def test_a_warehouse_whose_data_lies_in_the_past_is_judged_at_its_own_time(wh, capsys):
    with wh.connect() as conn:
        newest = max(conn.scalar("select max(collected_at) from raw.metric_snapshots"),
                     conn.scalar("select max(collected_at) from raw.follower_snapshots"))
    as_of_newest = run(capsys, "health", "--json", "--no-jobs", "--as-of", newest.isoformat())[1]
    code, out, _ = run(capsys, "health", "--json", "--no-jobs")  # no --as-of: the simulated days lie in the past
    verdict = json.loads(out)
    assert verdict["clock"]["source"] == CLOCK_DATA and verdict["as_of"] == newest.isoformat()
    assert code == 1 and verdict["status"] == DEGRADED  # as at --as-of, not critical for being months old
    assert verdict["accounts"][0]["reasons"] == json.loads(as_of_newest)["accounts"][0]["reasons"]
    assert any("data_clock" in n for n in verdict["accounts"][0]["notes"])

    code, out, _ = run(capsys, "status", "--no-jobs")
    assert f"xbot status as of {newest:%Y-%m-%d %H:%M} UTC, the warehouse's newest data" in out

    # A lock taken now (on the wall clock) leaves the data's clock where it was, and counts.
    code, out, _ = run(capsys, "weights", "lock", "coach")
    code, out, _ = run(capsys, "status", "--json", "--no-jobs")
    status = json.loads(out)
    assert status["clock"]["source"] == CLOCK_DATA
    assert status["accounts"][0]["optimization_events"][0]["event_type"] == "generator_locked"

    # The same quiet warehouse for an account live on X: its loop seems to have stopped.
    register_account(wh, Account(ACCOUNT, connector="x-api"), END)
    code, out, _ = run(capsys, "health", "--no-jobs")
    assert "[degraded] data_clock: nothing observed for" in out and "is its loop running?" in out


@pytest.mark.parametrize(("argv", "codes"), [
    (["status", "--no-jobs", "--as-of", AS_OF], {141}),
    # argparse itself swallows a failed write of its help; whatever is left to flush must fail quietly too.
    (["health", "--help"], {0, 141}),
])
def test_a_closed_pipe_ends_a_command_quietly(wh, argv, codes):
    # The reading end is closed before the command writes a byte, as `| head` does once it has its lines.
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([str(Path(sys.executable).parent / "xbot"), *argv], stdout=write,
                              stderr=subprocess.PIPE, env=dict(os.environ), timeout=300)
    finally:
        os.close(write)
    assert done.stderr.decode() == ""  # no BrokenPipeError traceback, no "Exception ignored"
    assert done.returncode in codes


# "seed 004", "seed-004", "PRODUCT §7", "PRODUCT.md": the project's own design documents, which a user does not have
FOREIGN_REFERENCES = re.compile(r"[Ss]eed[ -]?0\d\d|\bPRODUCT\b|§")
README = Path(__file__).resolve().parent.parent / "README.md"


def test_user_facing_text_points_at_no_document_the_user_lacks(capsys):
    from xbot_assets.operator.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    texts = {"xbot --help": parser.format_help()}
    for name, sub in subparsers.choices.items():
        texts[f"xbot {name} --help"] = sub.format_help()
        for action in sub._actions:  # nested commands (xbot accounts add, xbot queue list, ...)
            if isinstance(action, argparse._SubParsersAction):
                texts.update({f"xbot {name} {n} --help": p.format_help() for n, p in action.choices.items()})
    texts["README.md"] = README.read_text(encoding="utf-8")
    found = {where: FOREIGN_REFERENCES.findall(text) for where, text in texts.items()}
    assert {where: refs for where, refs in found.items() if refs} == {}
    assert len(texts) >= len(subparsers.choices) + 2  # every command, the top level and the README


def test_the_readme_tables_render():
    """Every row of a README table has its header's cell count; a pipe inside a cell must be escaped (\\|)."""
    problems, header = [], None
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith("|"):
            header = None
            continue
        cells = len(re.split(r"(?<!\\)\|", line.strip())) - 2
        if header is None:
            header = (number, cells)
        elif cells != header[1]:
            problems.append(f"line {number}: {cells} cells, the header (line {header[0]}) has {header[1]}")
    assert problems == []


# ---------------------------------------------------------------------------------------------------------------------
# Without dbt, on both warehouses: the commands on an account registered but never learned


def test_commands_on_a_new_account_without_marts(warehouse_env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    wh = Warehouse.from_url(warehouse_env)
    wh.migrate()
    code, out, _ = run(capsys, "health")
    assert code == 2 and NO_ACCOUNTS_REASON in out

    register_account(wh, Account("fresh"), END)
    code, out, _ = run(capsys, "health", "--as-of", AS_OF)
    assert code == 2  # enabled, never posted, no weights
    assert "weights_missing" in out and "no_recent_outcomes" in out and "note model_missing" in out

    code, out, _ = run(capsys, "weights", "lock", "coach", "--as-of", AS_OF)
    assert code == 0 and weights(wh, "fresh")["coach"] == (DEFAULT_WEIGHTS["coach"], "locked")
    code, out, _ = run(capsys, "optimize", "--as-of", AS_OF)
    assert code == 0 and "skipped_insufficient_data" in out
    assert [e[0] for e in events(wh, "fresh")] == ["generator_locked", "optimization_skipped"]

    code, out, _ = run(capsys, "status", "--json", "--no-jobs", "--as-of", AS_OF)
    status = json.loads(out)
    (account,) = status["accounts"]
    assert account["registered"] and account["enabled"] and "jobs" not in status
    assert {g["generator"]: g["status"] for g in account["generators"]}["coach"] == "locked"
    assert account["content_arms"] == [] and account["models"] == []
    assert [e["event_type"] for e in account["optimization_events"]] == ["optimization_skipped", "generator_locked"]
    assert account["health"]["status"] == CRITICAL  # still never posted
    code, out, _ = run(capsys, "status", "--no-jobs", "--as-of", AS_OF)
    assert code == 0 and "| coach | locked 🔒 |" in out and "none trained" in out
