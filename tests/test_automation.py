"""Production automation on the production stack: the warehouse AND the Dagster instance on PostgreSQL, with Redis.

The sensors are evaluated against the instance as the daemon would evaluate them, the runs they request are executed
in this process (recorded in the same instance), and a second evaluation with the advanced cursors must request
nothing. Also: the failure sensor's alert rows, the schedules' switch and crons, and the retrain threshold.
"""

from __future__ import annotations

import shutil
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import redis
from services import REDIS_URL, throwaway_databases

from xbot_assets.defs import automation
from xbot_assets.defs.resources import WarehouseResource
from xbot_assets.evaluation.static_history import simulate_static_history
from xbot_assets.ingest.load import write_follower_snapshots, write_posts
from xbot_assets.ingest.metrics import write_metric_snapshots
from xbot_assets.learned.models import REGISTRY_COLUMNS
from xbot_assets.learned.serving import REDIS_LATEST_KEY
from xbot_assets.runtime.instance import definitions, report_raw_materialization
from xbot_assets.settings import WarehouseTarget
from xbot_assets.simulation.scenario import load_scenario
from xbot_assets.warehouse.connection import Warehouse

ROOT = Path(__file__).resolve().parent.parent
RAW_WRITTEN = ("posts", "metric_snapshots", "follower_snapshots")
HISTORY_DAYS = 17  # 4 posts a day: ~64 outcomes old enough for the models (minimum 50)


class Stack:
    """A PostgreSQL warehouse, a Dagster instance on its own PostgreSQL database (deploy/dagster.yaml) and Redis."""

    def __init__(self, instance: dg.DagsterInstance, warehouse_url: str, redis_prefix: str):
        self.instance = instance
        self.wh = Warehouse.from_url(warehouse_url)
        self.redis_prefix = redis_prefix
        self.defs = definitions()
        self.cursors: dict[str, str | None] = {}
        self.runs: list[dg.ExecuteInProcessResult] = []

    def tick(self, name: str):
        """One evaluation of a sensor against the instance, from the cursor the previous one left."""
        sensor = self.defs.get_repository_def().get_sensor_def(name)
        # With the instance's ref, as the daemon gives it: partitioned run requests are resolved against it.
        context = dg.build_sensor_context(
            instance=self.instance, instance_ref=self.instance.get_ref(), cursor=self.cursors.get(name),
            definitions=self.defs, resources=self.defs.resources,
        )
        data = sensor.evaluate_tick(context)
        self.cursors[name] = data.cursor
        return data

    def launch(self, request: dg.RunRequest, now: datetime, **run_config) -> dg.ExecuteInProcessResult:
        """Execute a requested run in this process, in the instance, on the simulated clock."""
        job = self.defs.resolve_job_def(request.job_name)
        config = {
            "resources": {
                "clock": {"config": {"simulated_now": now.isoformat()}},
                # Partial resource config replaces the bound one, so the URL is given again (from the same env var).
                "redis": {"config": {"url": {"env": "XBOT_REDIS_URL"}, "key_prefix": self.redis_prefix}},
            },
            **run_config,
        }
        result = job.execute_in_process(
            instance=self.instance, run_config=config, tags=request.tags, asset_selection=request.asset_selection,
            raise_on_error=False,
        )
        self.runs.append(result)
        return result


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    databases = throwaway_databases(2)
    warehouse_url, dagster_url = databases.__enter__()
    t = WarehouseTarget.parse(dagster_url)
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    prefix = f"xbot-test-{uuid.uuid4().hex[:8]}:"
    mp = pytest.MonkeyPatch()
    instance = None
    try:
        for key, value in {
            "DAGSTER_PG_HOST": t.host, "DAGSTER_PG_PORT": str(t.port), "DAGSTER_PG_USER": t.user,
            "DAGSTER_PG_PASSWORD": t.password, "DAGSTER_PG_DB": t.dbname,
            "XBOT_WAREHOUSE": warehouse_url,
            "XBOT_REDIS_URL": REDIS_URL,
        }.items():
            mp.setenv(key, value)
        mp.delenv(automation.PRODUCTION_ENV, raising=False)
        mp.delenv(automation.RETRAIN_MIN_ENV, raising=False)
        definitions.cache_clear()  # the learn group binds Redis when XBOT_REDIS_URL is set at load
        instance = dg.DagsterInstance.from_config(str(home))
        yield Stack(instance, warehouse_url, prefix)
    finally:
        if instance is not None:
            instance.dispose()
        mp.undo()
        definitions.cache_clear()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()
        databases.__exit__(None, None, None)


def _load_history(stack: Stack) -> datetime:
    history = simulate_static_history(load_scenario("default"), HISTORY_DAYS, "main")
    stack.wh.migrate()
    with stack.wh.connect() as conn:
        reports = {
            "posts": write_posts(conn, history.posts, now=history.end),
            "metric_snapshots": write_metric_snapshots(conn, history.metric_snapshots, now=history.end),
            "follower_snapshots": write_follower_snapshots(conn, history.follower_snapshots, now=history.end),
        }
    for table in RAW_WRITTEN:  # as the act steps and `xbot load` do
        report_raw_materialization(
            table, reports[table].as_metadata(), "simulated history", on_instance=stack.instance
        )
    return history.end


def _step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    starts, seconds = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            seconds[event.step_key] = round(entry.timestamp - starts[event.step_key], 2)
    return seconds


def _count(wh: Warehouse, sql: str) -> int:
    with wh.connect() as conn:
        return int(conn.scalar(sql))


# ---------------------------------------------------------------------------------------------------------------------


def test_new_raw_rows_rebuild_transform_and_learn_and_retrain_the_models(stack):
    auto, retrain = automation.AUTOMATION_SENSOR, automation.RETRAIN_SENSOR
    # The sensors run before the data arrives (a first automation tick only sets its baseline).
    assert not stack.tick(auto).run_requests
    assert "not built yet" in (stack.tick(retrain).skip_message or "")

    now = _load_history(stack)

    # New raw rows → one run of every dbt model downstream of them (set-based, unpartitioned), nothing else.
    requests = stack.tick(auto).run_requests
    assert len(requests) == 1
    selected = set(requests[0].asset_selection)
    assert dg.AssetKey(["analytics", "training_set"]) in selected
    assert not selected & {dg.AssetKey(["learn", "bandit_arms"]), dg.AssetKey(["learn", "engagement_model"]),
                           dg.AssetKey(["learn", "generator_weights"]), dg.AssetKey(["act", "planned_posts"])}
    assert requests[0].partition_key is None
    assert requests[0].tags["xbot/learn"] == "true" and requests[0].tags["xbot/warehouse"] == "postgres"
    started = time.perf_counter()
    transform_run = stack.launch(requests[0], now)
    assert transform_run.success
    # The marts updated → the bandit arms, the formulas and the strategy of each account, in a run of its own
    # (the history's account got its partition when its posts were reported).
    assert stack.instance.get_dynamic_partitions("accounts") == ["main"]
    requests = stack.tick(auto).run_requests
    assert [r.partition_key for r in requests] == ["main"]
    assert set(requests[0].asset_selection) == {dg.AssetKey(["learn", "bandit_arms"]), dg.AssetKey(["learn", "formulas"]),
                                                dg.AssetKey(["learn", "strategy"])}
    arms_run = stack.launch(requests[0], now)
    transform_seconds = time.perf_counter() - started
    assert arms_run.success
    assert {e.partition for e in arms_run.get_asset_materialization_events()} == {"main"}
    # 4 content, 24 timing and 6 hook arms (the hooks the offline templates' texts are classified as).
    assert _count(stack.wh, "select count(*) from learn.bandit_arms where account_id = 'main'") == 34
    assert _count(stack.wh, "select count(*) from learn.model_registry") == 0

    # Enough new outcomes (no model yet) → one retraining run of the two model assets.
    data = stack.tick(retrain)
    assert len(data.run_requests) == 1
    request = data.run_requests[0]
    assert request.job_name == "retrain_job" and request.tags["xbot/retrain_accounts"] == "main"
    assert request.partition_key == "main"
    started = time.perf_counter()
    retrain_run = stack.launch(request, now)
    retrain_seconds = time.perf_counter() - started
    assert retrain_run.success
    materialized = {e.asset_key for e in retrain_run.get_asset_materialization_events()}
    assert materialized == {dg.AssetKey(["learn", "engagement_model"]), dg.AssetKey(["learn", "follow_model"])}
    with stack.wh.connect() as conn:
        registry = conn.fetchall("select model_name, version, n_samples from learn.model_registry order by 1")
    assert [(m, v) for m, v, _ in registry] == [("engagement_ridge", 1), ("follow_poisson", 1)]
    assert all(n >= 50 for _, _, n in registry)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert client.exists(f"{stack.redis_prefix}{REDIS_LATEST_KEY}")
    finally:
        client.close()

    # The same data again: neither sensor requests anything.
    assert not stack.tick(auto).run_requests
    data = stack.tick(retrain)
    assert not data.run_requests and "fewer than 10 new outcomes" in data.skip_message

    # Where a sensor-triggered learn run spends its time (printed with -s).
    steps = {**_step_seconds(stack.instance, transform_run.run_id), **_step_seconds(stack.instance, arms_run.run_id)}
    print(f"\ntransform run + arms run: {transform_seconds:.1f}s, steps {steps}")
    print(f"retrain run: {retrain_seconds:.1f}s, steps {_step_seconds(stack.instance, retrain_run.run_id)}")


def test_a_failed_run_becomes_one_alert_row(stack):
    sensor = automation.FAILURE_SENSOR
    stack.cursors.pop(sensor, None)
    assert not stack.tick(sensor).run_requests  # the first tick only places the cursor after existing failures
    # A run that fails: the clock cannot read its configured "now".
    failed = stack.launch(dg.RunRequest(job_name="retrain_job"), datetime(2026, 1, 1),
                          resources={"clock": {"config": {"simulated_now": "not a time"}}})
    assert not failed.success

    stack.tick(sensor)
    with stack.wh.connect() as conn:
        alerts = conn.fetchall("select alert_id, run_id, job_name, severity, error from act.alerts")
    assert len(alerts) == 1
    alert_id, run_id, job_name, severity, error = alerts[0]
    assert (alert_id, run_id, job_name, severity) == (f"run_failure:{failed.run_id}", failed.run_id, "retrain_job",
                                                      "error")
    assert "not a time" in error and "learn__engagement_model" in error

    stack.tick(sensor)  # the cursor has passed the failure: no second row
    assert _count(stack.wh, "select count(*) from act.alerts") == 1


# ---------------------------------------------------------------------------------------------------------------------


def _reload(monkeypatch, **env: str | None) -> dg.Definitions:
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    definitions.cache_clear()
    return definitions()


def test_everything_is_off_by_default_and_one_switch_turns_production_on(monkeypatch, instance):
    settings = {s.env: None for s in automation.SCHEDULES}
    try:
        defs = _reload(monkeypatch, **settings, **{automation.PRODUCTION_ENV: None, "XBOT_WAREHOUSE": None})
        repo = defs.get_repository_def()
        schedules = {s.name: s for s in repo.schedule_defs}
        assert set(schedules) == {s.name for s in automation.SCHEDULES}
        assert {s.default_status for s in schedules.values()} == {dg.DefaultScheduleStatus.STOPPED}
        sensors = {s.name: s for s in repo.sensor_defs}
        assert {automation.AUTOMATION_SENSOR, automation.RETRAIN_SENSOR, automation.FAILURE_SENSOR} <= set(sensors)
        assert {s.default_status for s in sensors.values()} == {dg.DefaultSensorStatus.STOPPED}
        for s in automation.SCHEDULES:
            assert schedules[s.name].cron_schedule == s.default_cron
            assert schedules[s.name].execution_timezone == "UTC"
            assert schedules[s.name].job_name == s.job_name
            if s.job_name not in automation.PER_ACCOUNT_JOBS:
                assert schedules[s.name].tags[automation.WAREHOUSE_TAG] == "duckdb"  # the default warehouse
        # The schedules of the partitioned jobs launch one run per account partition, keyed by their tick.
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime(2026, 3, 1, 6),
                                            repository_def=repo)
        assert "no account partitions" in schedules["plan_schedule"].evaluate_tick(context).skip_message
        instance.add_dynamic_partitions("accounts", ["alpha", "beta"])
        for name in ("plan_schedule", "optimize_schedule"):
            with dg.partition_loading_context(dynamic_partitions_store=instance):
                requests = schedules[name].evaluate_tick(context).run_requests
            assert [r.partition_key for r in requests] == ["alpha", "beta"]
            assert len({r.run_key for r in requests}) == 2
            assert all(r.tags[automation.WAREHOUSE_TAG] == "duckdb" for r in requests)
        assert schedules["collect_metrics_schedule"].cron_schedule == "*/10 * * * *"
        assert schedules["optimize_schedule"].cron_schedule == "0 */6 * * *"

        crons = {
            "XBOT_CRON_COLLECT": "*/15 * * * *", "XBOT_CRON_FOLLOWERS": "5,35 * * * *",
            "XBOT_CRON_PLAN": "30 */3 * * *",
            "XBOT_CRON_PUBLISH": "*/2 * * * *", "XBOT_CRON_OPTIMIZE": "0 1 * * *",
        }
        defs = _reload(monkeypatch, **crons, **{automation.PRODUCTION_ENV: "1"})
        repo = defs.get_repository_def()
        schedules = {s.name: s for s in repo.schedule_defs}
        for s in automation.SCHEDULES:
            assert schedules[s.name].cron_schedule == crons[s.env]
            assert schedules[s.name].default_status == dg.DefaultScheduleStatus.RUNNING
        assert {s.default_status for s in repo.sensor_defs} == {dg.DefaultSensorStatus.RUNNING}
        # What the schedules launch exists and covers the assets the brief names.
        assert set(defs.resolve_job_def("plan_job").asset_layer.selected_asset_keys) == {
            dg.AssetKey(["act", "planned_posts"]), dg.AssetKey(["report", "operator_dashboard"])}
        assert set(defs.resolve_job_def("optimize_job").asset_layer.selected_asset_keys) == {
            dg.AssetKey(["learn", "generator_weights"]), dg.AssetKey(["learn", "generator_posterior"])}
    finally:
        monkeypatch.undo()
        definitions.cache_clear()


# ---------------------------------------------------------------------------------------------------------------------
# The retrain threshold and cursor on a hand-made training set (DuckDB, no dbt)

T0 = datetime(2026, 3, 1)


def _training_set(wh: Warehouse, posted: list[datetime], age_hours: float = 48.0) -> None:
    with wh.connect() as conn:
        conn.execute("create schema if not exists analytics")
        conn.execute("create table if not exists analytics.training_set "
                     "(account_id varchar, decision_id varchar, posted_at timestamp, age_hours double)")
        conn.insert_rows("analytics.training_set", ("account_id", "decision_id", "posted_at", "age_hours"),
                         [["acct", uuid.uuid4().hex, at, age_hours] for at in posted])


def _register(wh: Warehouse, window_end: datetime, version: int) -> None:
    rows = []
    for model_name in automation.MODELS:
        row = dict.fromkeys(REGISTRY_COLUMNS)
        row.update(account_id="acct", model_name=model_name, version=version, model_type="x", target="y",
                   model_json="{}", feature_names="[]", metrics="{}", primary_metric="m", n_samples=50, n_train=40,
                   n_holdout=10, window_end=window_end, data_fingerprint=f"fp{version}", created_at=window_end)
        rows.append([row[c] for c in REGISTRY_COLUMNS])
    with wh.connect() as conn:
        conn.insert_rows("learn.model_registry", REGISTRY_COLUMNS, rows)


@pytest.fixture
def instance(tmp_path):
    """A persistent instance in a temporary folder: sensors and schedules resolve partitioned run requests through
    its ref. (Not dg.instance_for_test: it leaves a stale current instance behind for later definition loads.)"""
    persistent = dg.DagsterInstance.local_temp(str(tmp_path))
    yield persistent
    persistent.dispose()


def test_retrain_sensor_needs_ten_new_outcomes_since_the_model_and_never_fires_twice(duckdb_url, monkeypatch,
                                                                                    instance):
    monkeypatch.delenv(automation.RETRAIN_MIN_ENV, raising=False)
    wh = Warehouse.from_url(duckdb_url)
    wh.migrate()
    sensor = automation.build_retrain_sensor(running=False)
    cursor = None

    repository = definitions().get_repository_def()  # retrain_job, whose partitions the requests name

    def tick():
        nonlocal cursor
        context = dg.build_sensor_context(cursor=cursor, instance=instance, instance_ref=instance.get_ref(),
                                          repository_def=repository,
                                          resources={"warehouse": WarehouseResource(url=duckdb_url)})
        data = sensor.evaluate_tick(context)
        for request in data.dynamic_partitions_requests or []:  # as the daemon applies them
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        cursor = data.cursor if data.cursor is not None else cursor
        return data

    _training_set(wh, [T0 + timedelta(hours=h) for h in range(60)])
    _register(wh, window_end=T0 + timedelta(hours=59), version=1)  # the model has seen all 60
    _training_set(wh, [T0 + timedelta(hours=60 + h) for h in range(9)])  # 9 new
    _training_set(wh, [T0 + timedelta(hours=80)], age_hours=3.0)  # gated, but too young for the models
    assert not tick().run_requests

    _training_set(wh, [T0 + timedelta(hours=70)])  # the 10th
    data = tick()
    assert len(data.run_requests) == 1 and data.run_requests[0].tags["xbot/new_outcomes"] == "acct=10"
    assert data.run_requests[0].partition_key == "acct"  # the account had no partition: the sensor added it
    assert instance.get_dynamic_partitions("accounts") == ["acct"]
    assert not tick().run_requests  # same data, advanced cursor

    # The run did not register a new version (e.g. unchanged data): 10 more beyond the cursor are needed.
    _training_set(wh, [T0 + timedelta(hours=71 + h) for h in range(9)])
    assert not tick().run_requests
    # A newer registered model moves the boundary past the cursor's mark.
    _register(wh, window_end=T0 + timedelta(hours=79), version=2)
    _training_set(wh, [T0 + timedelta(hours=90 + h) for h in range(9)])
    assert not tick().run_requests
    monkeypatch.setenv(automation.RETRAIN_MIN_ENV, "9")
    assert len(tick().run_requests) == 1
