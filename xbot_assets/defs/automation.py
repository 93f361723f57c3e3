"""Production automation: the schedules, the sensors and the declarative automation of the loop (PRODUCT.md §8).

Everything here is off by default, so the embedded demo and the tests never start anything by themselves. One switch,
`XBOT_PRODUCTION=1` (read when the definitions load), makes every schedule and sensor start as RUNNING, so a fresh
production deployment needs nobody to click in the UI. The daemon (`dagster-daemon run`) must be running.

Schedules (UTC cron; each a setting):

    collect_metrics_schedule    XBOT_CRON_COLLECT    */10 * * * *   collect_metrics_job
    follower_snapshot_schedule  XBOT_CRON_FOLLOWERS  */30 * * * *   follower_snapshot_job
    plan_schedule               XBOT_CRON_PLAN       0 */2 * * *    plan_job      (act/planned_posts)
    publish_schedule            XBOT_CRON_PUBLISH    */5 * * * *    publish_job
    optimize_schedule           XBOT_CRON_OPTIMIZE   0 */6 * * *    optimize_job  (generator weights + posteriors)

Sensors:

- `transform_and_arms_on_new_data` (declarative automation): the act steps report what they write as
  materializations of raw/posts, raw/metric_snapshots and raw/follower_snapshots; `AutomationCondition.eager()`
  then rebuilds every dbt model downstream of the new rows and learn/bandit_arms, in one run per tick. The condition
  is applied here, as the sensor's `default_condition`, not on the assets: it is evaluated in the code server
  (`use_user_code_server=True`), which also means the transform and learn modules stay free of deployment policy.
- `retrain_models_on_new_outcomes`: the predictors retrain when at least XBOT_RETRAIN_MIN_NEW_OUTCOMES (10, seed 002)
  gated outcomes the models would learn from arrived after the newest registered model's window of any account.
- `alert_on_run_failure`: every failed run becomes a row of act.alerts and an error in the sensor's log.

No sensor fires twice on the same data: the automation sensor's cursor records what it has handled, the retrain
sensor's cursor records per account the newest outcome it already asked a retraining for, and the failure sensor's
cursor is the event log id of the newest failure it processed (an alert's id is derived from its run, too).

The model assets and the generator assets carry no automation condition: the models follow the retrain sensor
(retraining on every metrics update would add a registry version per new post), the generator weights follow the
optimize schedule (seed 004: one optimization cycle every few hours).

Declarative automation reacts to updates it sees after its first tick. A deployment that starts on an existing
warehouse builds everything once (`refresh_job`, or `xbot refresh`); from then on the act steps' reports drive it.

Other settings: XBOT_AUTOMATION_INTERVAL_SECONDS (60) and XBOT_RETRAIN_INTERVAL_SECONDS (120), how often the two
sensors are evaluated. The runs carry `xbot/learn` (learn runs) and `xbot/warehouse` (the engine) tags, which
deploy/dagster.yaml's run queue limits: one learn run at a time, one run at a time on a DuckDB warehouse.
"""

# No `from __future__ import annotations` here: Dagster inspects the sensors' annotations at definition time.

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dagster as dg
import pandas as pd

from xbot_assets.acting.alerts import ALERT_COLUMNS
from xbot_assets.defs.jobs import LEARN_RUN_TAG
from xbot_assets.defs.learn import BANDIT_ARMS
from xbot_assets.defs.learn_strategy import FORMULAS, STRATEGY
from xbot_assets.defs.partitions import ACCOUNTS
from xbot_assets.defs.resources import ClockResource, WarehouseResource
from xbot_assets.learned.models import newest_registry_row
from xbot_assets.learned.store import LearningSettings
from xbot_assets.learning.predictors import ENGAGEMENT_MODEL, FOLLOW_MODEL
from xbot_assets.settings import WarehouseTarget, env_int
from xbot_assets.warehouse.connection import Connection

PRODUCTION_ENV = "XBOT_PRODUCTION"
WAREHOUSE_TAG = "xbot/warehouse"
RETRAIN_MIN_ENV = "XBOT_RETRAIN_MIN_NEW_OUTCOMES"
DEFAULT_RETRAIN_MIN = 10  # seed 002: "Retrains Predictors if 10+ new posts available"

AUTOMATION_SENSOR = "transform_and_arms_on_new_data"
RETRAIN_SENSOR = "retrain_models_on_new_outcomes"
FAILURE_SENSOR = "alert_on_run_failure"


@dataclass(frozen=True)
class ScheduleSetting:
    name: str
    env: str
    default_cron: str
    job_name: str
    description: str

    def cron(self) -> str:
        return (os.environ.get(self.env) or "").strip() or self.default_cron


SCHEDULES = (
    ScheduleSetting("collect_metrics_schedule", "XBOT_CRON_COLLECT", "*/10 * * * *", "collect_metrics_job",
                    "Collect the counters of every post that reached a snapshot age."),
    ScheduleSetting("follower_snapshot_schedule", "XBOT_CRON_FOLLOWERS", "*/30 * * * *", "follower_snapshot_job",
                    "Read every account's follower count."),
    ScheduleSetting("plan_schedule", "XBOT_CRON_PLAN", "0 */2 * * *", "plan_job",
                    "Plan the rest of the day's posts from what was learned."),
    ScheduleSetting("publish_schedule", "XBOT_CRON_PUBLISH", "*/5 * * * *", "publish_job",
                    "Publish the queued posts whose time has come."),
    ScheduleSetting("optimize_schedule", "XBOT_CRON_OPTIMIZE", "0 */6 * * *", "optimize_job",
                    "One optimization cycle of the generator weights, then the generator posteriors."),
)


def run_tags(*, learn: bool) -> dict[str, str]:
    """Tags of the runs the schedules and sensors launch. `xbot/warehouse` names the warehouse engine, so
    deploy/dagster.yaml can let one run at a time write a DuckDB file (and any number a PostgreSQL warehouse)."""
    tags = {WAREHOUSE_TAG: WarehouseTarget.from_env().kind}
    return {**tags, **LEARN_RUN_TAG} if learn else tags


def production() -> bool:
    """XBOT_PRODUCTION=1 (or true/yes/on) turns the production schedules and sensors on."""
    return (os.environ.get(PRODUCTION_ENV) or "").strip().lower() in ("1", "true", "yes", "on")


# The jobs whose assets are partitioned by account: their schedules launch one run per account.
PER_ACCOUNT_JOBS = ("plan_job", "optimize_job")


def per_account_runs(setting: ScheduleSetting):
    """A schedule's evaluation: one run per account partition (each its own process on the run launcher, retried
    alone), keyed by the tick so a tick evaluated twice launches nothing twice."""

    def evaluate(context: dg.ScheduleEvaluationContext):
        accounts = context.instance.get_dynamic_partitions(ACCOUNTS.name)
        if not accounts:
            yield dg.SkipReason("no account partitions yet (xbot accounts add NAME ...)")
            return
        tick = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else "now"
        for account in accounts:
            yield dg.RunRequest(run_key=f"{setting.name}:{tick}:{account}", partition_key=account,
                                tags=run_tags(learn=False))

    return evaluate


def build_schedules(running: bool) -> list[dg.ScheduleDefinition]:
    status = dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
    schedules = []
    for s in SCHEDULES:
        per_account = s.job_name in PER_ACCOUNT_JOBS
        schedules.append(dg.ScheduleDefinition(
            name=s.name,
            job_name=s.job_name,
            cron_schedule=s.cron(),
            execution_timezone="UTC",
            default_status=status,
            # optimize_job adds xbot/learn itself
            **({"execution_fn": per_account_runs(s)} if per_account else {"tags": run_tags(learn=False)}),
            description=f"{s.description} Cron (UTC) from {s.env}, default '{s.default_cron}'."
                        + (" One run per account." if per_account else ""),
        ))
    return schedules


# ---------------------------------------------------------------------------------------------------------------------
# Declarative automation: new raw rows → dbt models → bandit arms

# The dbt models (group transform) and the bandit arms, with their checks (the dbt tests run with their models), and
# the formulas and the strategy in words, rebuilt with the arms.
AUTOMATION_TARGET = dg.AssetSelection.groups("transform") | dg.AssetSelection.assets(BANDIT_ARMS, FORMULAS, STRATEGY)


def build_automation_sensor(running: bool) -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=AUTOMATION_TARGET,
        # Applied to every targeted asset (and check) that has no condition of its own: eager = whenever a parent
        # was updated (and none is missing or in progress), once, in the same run as the parents requested now.
        default_condition=dg.AutomationCondition.eager(),
        use_user_code_server=True,  # required for default_condition; evaluated by the code server, not the daemon
        default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
        minimum_interval_seconds=env_int("XBOT_AUTOMATION_INTERVAL_SECONDS", 60),
        run_tags=run_tags(learn=True),
        description=(
            "Rebuild the dbt models downstream of new raw rows (reported by the act steps) and the bandit arms, "
            "with their checks (AutomationCondition.eager())."
        ),
    )


# ---------------------------------------------------------------------------------------------------------------------
# Retraining the predictors on enough new outcomes

MODELS = (ENGAGEMENT_MODEL, FOLLOW_MODEL)


@dataclass(frozen=True)
class NewOutcomes:
    """One account's outcomes the models have not learned from, and since when."""

    account_id: str
    count: int
    newest_posted_at: datetime | None
    since: datetime | None  # the watermark: the later of the models' trained window end and the cursor's mark
    trained_until: datetime | None


def _stamp(value: Any) -> datetime | None:
    """A naive UTC datetime from what either engine returns (or an ISO string from the cursor)."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def _trained_until(conn: Connection, account_id: str) -> datetime | None:
    """The posted_at up to which both models learned (the older of the two newest windows); None if one has no
    registered version yet. A registry row without a window end falls back to the time it was trained."""
    ends = []
    for model_name in MODELS:
        row = newest_registry_row(conn, account_id, model_name)
        if row is None:
            return None
        ends.append(_stamp(row["window_end"]) or _stamp(row["created_at"]))
    return min(ends) if all(e is not None for e in ends) else None


def count_new_outcomes(conn: Connection, marks: Mapping[str, str], min_age_hours: float) -> list[NewOutcomes]:
    """Per account in analytics.training_set: the gated outcomes old enough for the models (`age_hours` ≥ the
    models' minimum post age) posted after both the newest model's window end and the cursor's mark."""
    accounts = [r[0] for r in conn.fetchall("select distinct account_id from analytics.training_set order by 1")]
    result = []
    for account_id in accounts:
        trained = _trained_until(conn, account_id)
        mark = _stamp(marks.get(account_id))
        since = max((t for t in (trained, mark) if t is not None), default=None)
        sql = "select count(*), max(posted_at) from analytics.training_set where account_id = ? and age_hours >= ?"
        params: list[Any] = [account_id, min_age_hours]
        if since is not None:
            sql += " and posted_at > ?"
            params.append(since)
        count, newest = conn.fetchone(sql, params)
        result.append(NewOutcomes(account_id, int(count or 0), _stamp(newest), since, trained))
    return result


def _cursor_marks(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    try:
        return dict(json.loads(cursor).get("accounts", {}))
    except (ValueError, AttributeError):
        return {}


def build_retrain_sensor(running: bool) -> dg.SensorDefinition:
    @dg.sensor(
        name=RETRAIN_SENSOR,
        job_name="retrain_job",
        minimum_interval_seconds=env_int("XBOT_RETRAIN_INTERVAL_SECONDS", 120),
        default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
        description=(
            "Retrain the engagement and follow models when at least XBOT_RETRAIN_MIN_NEW_OUTCOMES (10) gated "
            "outcomes the models would learn from were posted after the newest registered model's window."
        ),
    )
    def retrain_models_on_new_outcomes(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        threshold = env_int(RETRAIN_MIN_ENV, DEFAULT_RETRAIN_MIN)
        settings = LearningSettings.from_env()
        # the youngest post either model learns from (the engagement model's, when it settles young posts' rates)
        min_age = min(settings.model_min_age_hours, settings.engagement_min_age_hours)
        marks = _cursor_marks(context.cursor)
        wh = warehouse.get()
        try:
            with wh.connect(read_only=True) as conn:
                if not conn.table_exists("analytics", "training_set"):
                    return dg.SkipReason("analytics.training_set is not built yet")
                if not conn.table_exists("learn", "model_registry"):
                    return dg.SkipReason("the learn tables are not migrated yet")
                counts = count_new_outcomes(conn, marks, min_age)
        except Exception as exc:  # DuckDB held by a writer in another process, PostgreSQL down: try next tick
            context.log.warning(f"warehouse not readable now: {exc}")
            return dg.SkipReason(f"warehouse not readable now: {type(exc).__name__}")
        due = [c for c in counts if c.count >= threshold and c.newest_posted_at is not None]
        summary = ", ".join(f"{c.account_id}: {c.count} new since {c.since or 'the start'}" for c in counts)
        if not due:
            return dg.SkipReason(f"fewer than {threshold} new outcomes for every account ({summary or 'no accounts'})")
        new_marks = dict(marks)
        for c in due:
            new_marks[c.account_id] = c.newest_posted_at.isoformat()
        cursor = json.dumps({"accounts": new_marks}, sort_keys=True)
        context.log.info(f"retraining for {', '.join(c.account_id for c in due)} ({summary})")
        digest = hashlib.sha256(cursor.encode()).hexdigest()[:16]
        known = set(context.instance.get_dynamic_partitions(ACCOUNTS.name))
        new_partitions = sorted({c.account_id for c in due} - known)
        return dg.SensorResult(
            # An account with outcomes but no partition yet (a history loaded outside the CLI) gets one first.
            dynamic_partitions_requests=[ACCOUNTS.build_add_request(new_partitions)] if new_partitions else None,
            # One run per account (its partition of the model assets): accounts retrain apart and fail apart.
            run_requests=[
                dg.RunRequest(
                    job_name="retrain_job",
                    run_key=f"retrain:{digest}:{c.account_id}",
                    partition_key=c.account_id,
                    tags={
                        **run_tags(learn=True),
                        "xbot/retrain_accounts": c.account_id,
                        "xbot/new_outcomes": f"{c.account_id}={c.count}",
                    },
                )
                for c in due
            ],
            cursor=cursor,
        )

    return retrain_models_on_new_outcomes


# ---------------------------------------------------------------------------------------------------------------------
# Alerts on failed runs



def _error_chain(error) -> str:
    """A step error's message and the messages of its causes (Dagster wraps the user's exception), no traces."""
    messages = []
    while error is not None and len(messages) < 5:
        message = (error.message or "").strip()
        if message:
            messages.append(message)
        error = error.cause or error.context
    return " ← caused by: ".join(messages)


def failure_text(context: dg.RunFailureSensorContext) -> str:
    """The run's failure message and each failed step's errors (the full traces stay in the run's events)."""
    parts = [context.failure_event.message or "run failed"]
    for event in context.get_step_failure_events():
        error = getattr(event.event_specific_data, "error", None)
        if error is not None:
            parts.append(f"{event.step_key}: {_error_chain(error)[:2000]}")
    return "\n".join(parts)


def record_alert(warehouse: WarehouseResource, alert: Mapping[str, Any]) -> None:
    wh = warehouse.get()
    wh.migrate()
    with wh.connect() as conn:
        conn.insert_rows(
            "act.alerts", ALERT_COLUMNS, [[alert[c] for c in ALERT_COLUMNS]], conflict_columns=["alert_id"]
        )


def build_failure_sensor(running: bool) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name=FAILURE_SENSOR,
        # Every run of this instance, including the CLI's and the demo's in-process runs (they have no code location
        # origin, so a sensor watching only its own location would not see them).
        monitor_all_code_locations=True,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
        description="Record every failed run as a row of act.alerts (and an error in this sensor's log).",
    )
    def alert_on_run_failure(context: dg.RunFailureSensorContext, warehouse: WarehouseResource,
                             clock: ClockResource) -> None:
        run = context.dagster_run
        alert = {
            "alert_id": f"run_failure:{run.run_id}",
            "created_at": clock.now(),
            "run_id": run.run_id,
            "job_name": run.job_name,
            "error": failure_text(context),
            "severity": "error",
        }
        # Logged first: a warehouse that cannot take the row must not swallow the alert.
        context.log.error(f"ALERT run {run.run_id} of {run.job_name} failed: {alert['error']}")
        record_alert(warehouse, alert)

    return alert_on_run_failure


@dg.definitions
def automation_definitions() -> dg.Definitions:
    running = production()
    return dg.Definitions(
        schedules=build_schedules(running),
        sensors=[build_automation_sensor(running), build_retrain_sensor(running), build_failure_sensor(running)],
        # Runs the automation sensor launches are runs of the implicit asset job; without this they would use the
        # multiprocess executor, one process per step, each re-importing Dagster and dbt (seconds) for steps the
        # `warehouse` pool serializes anyway. Every named job of the project is in-process for the same reason.
        executor=dg.in_process_executor,
    )
