"""Alerts the act steps record in `act.alerts` (the run-failure sensor writes the same table): publishing or
collecting stopped by the platform or the budget. The id names what is alerted on, so the same stop is one row."""

from __future__ import annotations

from datetime import datetime

from xbot_assets.warehouse.connection import Warehouse

ALERT_COLUMNS = ("alert_id", "created_at", "run_id", "job_name", "error", "severity")


def record_alert(warehouse: Warehouse, alert_id: str, now: datetime, error: str, job_name: str = "publish_job",
                 severity: str = "critical") -> None:
    with warehouse.connect() as conn:
        conn.insert_rows("act.alerts", ALERT_COLUMNS, [[alert_id, now, None, job_name, error[:2000], severity]],
                         conflict_columns=["alert_id"])
