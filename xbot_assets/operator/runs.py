"""What `xbot status` and `xbot health` read from the Dagster instance: the newest runs of each job, with a failed
run's step error (the only module of the operator's surface that reads runs). The rules over them are
`operator.health.evaluate_jobs`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from xbot_assets.operator.health import CRITICAL_JOBS, FAILURE, HealthVerdict, JobRun, evaluate_jobs

# The jobs of the definitions, in the order the dashboard lists them (others the definitions add come after).
KNOWN_JOBS = ("refresh_job", "learn_and_plan_job", "publish_job", "collect_metrics_job", "follower_snapshot_job")
# Runs read per job: the rules need the newest two finished ones, and a run or two may still be queued or running.
RUNS_PER_JOB = 4
# Health learns which jobs ran from the newest runs, so it needs no definitions (loading them takes seconds).
RECENT_RUNS = 500


def ordered_job_names(names: Iterable[str]) -> list[str]:
    names = {n for n in names if not n.startswith("__")}
    return [n for n in KNOWN_JOBS if n in names] + sorted(names - set(KNOWN_JOBS))


def recent_job_names(instance: dg.DagsterInstance) -> list[str]:
    """The jobs that matter to health: the known and critical ones and every job among the newest runs."""
    ran = {r.dagster_run.job_name for r in instance.get_run_records(limit=RECENT_RUNS)}
    return ordered_job_names({*KNOWN_JOBS, *CRITICAL_JOBS, *ran})


def run_error(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """"step: message" of a failed run's first failed step, with the user code's own error rather than Dagster's
    wrapper; else the run failure's message (a run can fail before any step starts)."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = entry.dagster_event
        error = event.event_specific_data.error if event and event.event_specific_data else None
        if error is not None:
            while error.cause is not None:
                error = error.cause
            return f"{event.step_key}: {error.message.strip()}"
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
        event = entry.dagster_event
        if event is not None and event.message:
            return event.message.strip()
    return None


def _stamp(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def job_runs(instance: dg.DagsterInstance, job_names: Sequence[str]) -> list[dict[str, Any]]:
    """Per job, its newest run (status, start and end as naive UTC ISO, run id, a failure's error) and `recent`:
    the newest few runs, newest first, as the health rules read them."""
    rows = []
    for name in job_names:
        records = instance.get_run_records(filters=dg.RunsFilter(job_name=name), limit=RUNS_PER_JOB)
        if not records:
            rows.append({"job": name, "status": "never run", "run_id": None, "start_time": None, "end_time": None,
                         "duration_s": None, "error": None, "recent": []})
            continue
        recent = []
        failures_read = 0
        for record in records:
            run = record.dagster_run
            error = None
            # Only the failures the rules can name (the newest two finished runs) need their event log read.
            if run.status.value == FAILURE and failures_read < 2:
                error, failures_read = run_error(instance, run.run_id), failures_read + 1
            recent.append({"run_id": run.run_id, "status": run.status.value, "error": error})
        newest = records[0]
        start, end = newest.start_time, newest.end_time
        rows.append({
            "job": name,
            "status": newest.dagster_run.status.value,
            "run_id": newest.dagster_run.run_id,
            "start_time": _stamp(start),
            "end_time": _stamp(end),
            "duration_s": round(end - start, 1) if start is not None and end is not None else None,
            "error": recent[0]["error"],
            "recent": recent,
        })
    return rows


def jobs_verdict(rows: Sequence[dict[str, Any]]) -> HealthVerdict:
    """The health rules over `job_runs` rows."""
    return evaluate_jobs(JobRun(row["job"], r["run_id"], r["status"], r["error"]) for row in rows for r in row["recent"])
