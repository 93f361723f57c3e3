"""How the CLI reaches Dagster: the instance (runs recorded where the UI will find them) and the definitions."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg

from xbot_assets.settings import PROJECT_ROOT, WarehouseTarget, ensure_warehouse_env
from xbot_assets.warehouse.connection import Warehouse

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


ACCOUNTS_PARTITIONS = "accounts"  # xbot_assets.defs.partitions.ACCOUNTS
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def warehouse_accounts(warehouse: Warehouse | None = None) -> list[str]:
    """Every account the warehouse (default: XBOT_WAREHOUSE's) knows: registered in act.accounts or with posts in
    raw.posts (an imported history). Empty when the warehouse is not migrated yet."""
    found: set[str] = set()
    with (warehouse or Warehouse(WarehouseTarget.from_env())).connect(read_only=True) as conn:
        for schema, table in (("act", "accounts"), ("raw", "posts")):
            if conn.table_exists(schema, table):
                found.update(r[0] for r in conn.fetchall(f"select distinct account_id from {schema}.{table}"))
    return sorted(found)


def add_account_partitions(accounts: list[str], on_instance: dg.DagsterInstance | None = None) -> list[str]:
    """Make sure each account has its partition (idempotent); returns every account partition, in Dagster's order."""
    inst = on_instance or instance()
    known = inst.get_dynamic_partitions(ACCOUNTS_PARTITIONS)
    missing = [a for a in dict.fromkeys(accounts) if a not in set(known)]
    if missing:
        inst.add_dynamic_partitions(ACCOUNTS_PARTITIONS, missing)
        known = inst.get_dynamic_partitions(ACCOUNTS_PARTITIONS)
    return list(known)


def account_partition_tags(accounts: list[str] | None, on_instance: dg.DagsterInstance | None = None
                           ) -> dict[str, str] | None:
    """The tags of a run over `accounts` (None: every account the warehouse knows): one partition, or the range
    from the first to the last. None when there is no account at all."""
    requested = warehouse_accounts() if accounts is None else list(accounts)
    keys = add_account_partitions(requested, on_instance)
    if accounts is None:
        requested = keys
    if not requested:
        return None
    if len(requested) == 1:
        return {"dagster/partition": requested[0]}
    positions = sorted(keys.index(a) for a in set(requested))
    first, last = positions[0], positions[-1]
    if last - first + 1 != len(positions):
        others = sorted(set(keys[first:last + 1]) - set(requested))
        raise ValueError(f"accounts {sorted(requested)} are not one range of partitions (between them: {others}); "
                         "run them one at a time")
    return {RANGE_START: keys[first], RANGE_END: keys[last]}


def run_job(name: str, *, now: datetime | None = None, tags: dict[str, str] | None = None,
            selection: list[dg.AssetKey] | None = None, on_instance: dg.DagsterInstance | None = None,
            console_log_level: str | None = None, accounts: list[str] | None = None,
            op_config: dict[str, dict[str, Any]] | None = None) -> dg.ExecuteInProcessResult:
    """Run a job of the code location in this process, recorded in the instance (by default the one the UI reads).

    A job with account-partitioned assets runs them for `accounts` (default: every account the warehouse knows,
    each given its partition first) in this one run; with no account at all it runs only its unpartitioned assets.
    `console_log_level` quiets what the run prints (the instance still records every event); `op_config` is each
    op's (or asset's) config by its name."""
    job = definitions().resolve_job_def(name)
    tags = dict(tags or {})
    if job.partitions_def is not None:
        partition_tags = account_partition_tags(accounts, on_instance)
        if partition_tags is None:
            graph = definitions().resolve_asset_graph()
            chosen = selection or list(job.asset_layer.selected_asset_keys)
            selection = [k for k in chosen if graph.get(k).partitions_def is None]
        else:
            tags.update(partition_tags)
    run_config = clock_run_config(now)
    if op_config:
        run_config["ops"] = {name: {"config": values} for name, values in op_config.items()}
    if console_log_level:
        run_config["loggers"] = {"console": {"config": {"log_level": console_log_level}}}
    return job.execute_in_process(
        instance=on_instance or instance(),
        run_config=run_config,
        tags=tags,
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
    """Tell Dagster that rows landed in a raw table from outside the graph, so lineage and automation see them.
    New posts may be a new account's (an imported history): every account the warehouse knows gets its partition,
    so the automation learns it too."""
    inst = on_instance or instance()
    if table == "posts":
        add_account_partitions(warehouse_accounts(), inst)
    inst.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=dg.AssetKey(["raw", table]), metadata=metadata, description=description)
    )
