"""How the CLI reaches Dagster: the instance (runs recorded where the UI will find them) and the definitions."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg

from xbot_assets.settings import PROJECT_ROOT, ensure_warehouse_env

DEFAULT_DAGSTER_HOME = ".xbot/dagster_home"


def prepare_environment() -> Path:
    """Settings every entry point needs before Dagster or dbt load: nothing phones home, one DAGSTER_HOME."""
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")
    ensure_warehouse_env()
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(DEFAULT_DAGSTER_HOME).resolve())))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        # The embedded default instance: SQLite storage under DAGSTER_HOME, settings from the repo's dagster.yaml.
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", config)
    return home


@cache
def definitions() -> dg.Definitions:
    from xbot_assets.definitions import defs

    return defs()


def instance() -> dg.DagsterInstance:
    prepare_environment()
    return dg.DagsterInstance.get()


def clock_run_config(now: datetime | None) -> dict[str, Any]:
    if now is None:
        return {}
    return {"resources": {"clock": {"config": {"simulated_now": now.isoformat()}}}}


def run_job(name: str, *, now: datetime | None = None, tags: dict[str, str] | None = None,
            selection: list[dg.AssetKey] | None = None, on_instance: dg.DagsterInstance | None = None,
            console_log_level: str | None = None,
            op_config: dict[str, dict[str, Any]] | None = None) -> dg.ExecuteInProcessResult:
    """Run a job of the code location in this process, recorded in the instance (by default the one the UI reads).

    `console_log_level` quiets what the run prints (the instance still records every event); `op_config` is each
    op's (or asset's) config by its name."""
    job = definitions().resolve_job_def(name)
    run_config = clock_run_config(now)
    if op_config:
        run_config["ops"] = {name: {"config": values} for name, values in op_config.items()}
    if console_log_level:
        run_config["loggers"] = {"console": {"config": {"log_level": console_log_level}}}
    return job.execute_in_process(
        instance=on_instance or instance(),
        run_config=run_config,
        tags=tags or {},
        asset_selection=selection,
        raise_on_error=False,
    )


def step_failures(result: dg.ExecuteInProcessResult) -> list[str]:
    """"step: message" of every failed step, with the user code's own error rather than Dagster's wrapper."""
    failures = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            while error.cause is not None:
                error = error.cause
            failures.append(f"{event.step_key}: {error.message.strip()[:2000]}")
    return failures


def report_raw_materialization(table: str, metadata: dict[str, Any], description: str,
                               on_instance: dg.DagsterInstance | None = None) -> None:
    """Tell Dagster that rows landed in a raw table from outside the graph, so lineage and automation see them."""
    (on_instance or instance()).report_runless_asset_event(
        dg.AssetMaterialization(asset_key=dg.AssetKey(["raw", table]), metadata=metadata, description=description)
    )
