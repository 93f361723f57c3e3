"""The dbt step runs dbt inside the Dagster process (xbot_assets/defs/transform.py): repeatedly, subsetted, and failing
the way the dbt subprocess of dagster-dbt did."""

from __future__ import annotations

import logging
from datetime import datetime

import dagster as dg
import pytest

from xbot_assets.defs import transform
from xbot_assets.defs.transform import xbot_dbt_assets
from xbot_assets.runtime.instance import clock_run_config, definitions, instance, run_job
from xbot_assets.warehouse.connection import Warehouse

NOW = datetime(2026, 1, 10, 12, 0)
DBT_KEYS = set(xbot_dbt_assets.keys)
DBT_CHECKS = set(xbot_dbt_assets.check_keys)
STG_POSTS = dg.AssetKey(["staging", "stg_posts"])


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def duckdb_env(duckdb_url, monkeypatch) -> str:
    monkeypatch.setenv("XBOT_WAREHOUSE", duckdb_url)
    Warehouse.from_url(duckdb_url).migrate()
    return duckdb_url


def materialized(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


def checked(result: dg.ExecuteInProcessResult) -> dict[dg.AssetCheckKey, dg.AssetCheckEvaluation]:
    return {e.asset_check_key: e for e in result.get_asset_check_evaluations()}


def dbt_summary(result: dg.ExecuteInProcessResult) -> str:
    """The step's one-line summary of the dbt invocation ("... Done. PASS=n ... TOTAL=n Log: .../dbt.log")."""
    lines = [e.user_message for e in instance().all_logs(result.run_id) if "in process:" in e.user_message]
    assert len(lines) == 1, lines
    return lines[0]


def dbt_relations(url: str) -> set[str]:
    # Read-only, right after the run: DuckDB refuses it while dbt's adapter still holds the file in this process.
    with Warehouse.from_url(url).connect(read_only=True) as conn:
        rows = conn.fetchall(
            "select table_schema, table_name from information_schema.tables"
            " where table_schema in ('staging', 'intermediate', 'analytics')"
        )
    return {f"{schema}.{name}" for schema, name in rows}


def test_dbt_runs_twice_in_one_process(warehouse_env, dagster_home):
    """Every model materialized and every test a passing check, twice in a row; the second run parses partially."""
    Warehouse.from_url(warehouse_env).migrate()
    assert len(DBT_KEYS) >= 12 and all(k.path[0] != "raw" for k in DBT_KEYS)
    summaries = []
    for _ in range(2):
        result = run_job("refresh_job", now=NOW, selection=sorted(DBT_KEYS, key=str))
        assert result.success
        assert materialized(result) == DBT_KEYS
        checks = checked(result)
        assert set(checks) == DBT_CHECKS
        assert all(c.passed for c in checks.values())
        summaries.append(dbt_summary(result))
        with Warehouse.from_url(warehouse_env).connect() as conn:
            assert conn.scalar("select count(*) from analytics.outcomes") == 0
    assert all(f"TOTAL={len(DBT_KEYS) + len(DBT_CHECKS)}" in s for s in summaries), summaries
    first_log, second_log = (open(s.rsplit("Log: ", 1)[1]).read() for s in summaries)
    # The project is parsed once in the process (`dbt parse` writes its performance info); the second run is handed
    # that parse and parses nothing.
    assert "Performance info" in first_log
    assert "Performance info" not in second_log and "partial parsing" not in second_log
    # A new process (the in-process parse forgotten) starts from the parse the first one saved for this warehouse:
    # dbt parses partially, not the whole project again.
    transform._manifest_by_key.clear()
    transform._partial_parse_by_key.clear()
    result = run_job("refresh_job", now=NOW, selection=sorted(DBT_KEYS, key=str))
    assert result.success
    third_log = open(dbt_summary(result).rsplit("Log: ", 1)[1]).read()
    assert "Performance info" in third_log and "Unable to do partial parsing" not in third_log
    # dbt's import configures no logging of ours: nothing dagster-dbt logs at INFO reaches stderr.
    assert not [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]


def test_subsets_run_only_the_selected_nodes(duckdb_env, dagster_home):
    # One model: dbt builds that model and its tests, nothing else.
    result = run_job("refresh_job", now=NOW, selection=[STG_POSTS])
    assert result.success
    assert materialized(result) == {STG_POSTS}
    checks = checked(result)
    assert checks and {k.asset_key for k in checks} == {STG_POSTS} and all(c.passed for c in checks.values())
    assert f"TOTAL={1 + len(checks)}" in dbt_summary(result)
    assert dbt_relations(duckdb_env) == {"staging.stg_posts"}

    # The same model with its checks excluded: no dbt test runs.
    job = definitions().resolve_job_def("refresh_job").get_subset(
        asset_selection={STG_POSTS}, asset_check_selection=set()
    )
    result = job.execute_in_process(instance=instance(), run_config=clock_run_config(NOW), raise_on_error=False)
    assert result.success
    assert materialized(result) == {STG_POSTS}
    assert not checked(result)
    assert "TOTAL=1 " in dbt_summary(result)

    # One check alone: its test runs, the model is not rebuilt.
    check = next(iter(checks))
    job = definitions().resolve_job_def("refresh_job").get_subset(asset_selection=set(), asset_check_selection={check})
    result = job.execute_in_process(instance=instance(), run_config=clock_run_config(NOW), raise_on_error=False)
    assert result.success
    assert not materialized(result)
    assert set(checked(result)) == {check}
    assert "TOTAL=1 " in dbt_summary(result)


def test_failures_fail_the_step_with_dbts_message(duckdb_env, dagster_home):
    with Warehouse.from_url(duckdb_env).connect() as conn:
        conn.execute("drop table raw.follower_snapshots")
        conn.execute(
            "insert into raw.posts (decision_id, account_id, status, decision_type, content_type, generator_name,"
            " source, created_at, loaded_at) values ('x1', 'main', 'bogus', 'single', 'factual_single', 'coach',"
            " 'simulated', current_timestamp, current_timestamp)"
        )
    result = run_job("refresh_job", now=NOW, selection=sorted(DBT_KEYS, key=str))
    assert not result.success

    # What ran is still recorded: stg_posts built, and its accepted_values test a failed ERROR-severity check.
    assert STG_POSTS in materialized(result)
    assert dg.AssetKey(["staging", "stg_follower_snapshots"]) not in materialized(result)
    failed = [c for c in checked(result).values() if not c.passed]
    assert [c.check_name for c in failed if c.asset_key == STG_POSTS] == [
        "accepted_values_stg_posts_status__queued__publishing__posted__skipped__failed"
    ]
    assert all(c.severity == dg.AssetCheckSeverity.ERROR for c in failed)

    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "xbot_dbt_assets"
    error = failure.event_specific_data.error
    while error.cause is not None:
        error = error.cause
    assert "follower_snapshots does not exist" in error.message
    assert "accepted_values_stg_posts_status" in error.message

    # The failed run left the file free for us.
    assert "staging.stg_posts" in dbt_relations(duckdb_env)


def test_the_project_vars_reach_dbt_rendered_and_typed(monkeypatch):
    """dbt_project.yml's env_var expressions rendered as dbt renders them, numbers as numbers (dbt returns a typed
    --vars value as it is instead of rendering the string on every var() call)."""
    project_dir = transform.Path(transform.dbt_project.project_dir)
    for name in ("XBOT_GATE_MIN_AGE_HOURS", "XBOT_TIMEZONE", "XBOT_LEARNING_WINDOW_DAYS"):
        monkeypatch.delenv(name, raising=False)
    defaults = transform._resolved_vars(project_dir)
    assert defaults["gate_min_age_hours"] == 2.0 and defaults["learning_window_days"] == 7
    assert defaults["account_timezone"] == "UTC" and defaults["as_of"] is None
    monkeypatch.setenv("XBOT_GATE_MIN_AGE_HOURS", "48")
    monkeypatch.setenv("XBOT_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("XBOT_LEARNING_WINDOW_DAYS", "14")
    changed = transform._resolved_vars(project_dir)
    assert changed["gate_min_age_hours"] == 48.0 and isinstance(changed["gate_min_age_hours"], float)
    assert changed["learning_window_days"] == 14 and isinstance(changed["learning_window_days"], int)
    assert changed["account_timezone"] == "Europe/Berlin"
    assert set(changed) == set(defaults)
