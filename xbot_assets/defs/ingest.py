"""The raw tables, as the assets everything else stands on.

Materializing them applies the warehouse migrations and records what each table holds. Rows arrive from outside the
graph (`xbot load`, publishing, collecting); whoever writes them reports a materialization of the table they wrote,
so lineage shows where data came from and downstream automation sees it.
"""


import dagster as dg

from xbot_assets.defs.resources import WarehouseResource

# table → (description, the timestamp column that says how fresh it is)
RAW_TABLES = {
    "posts": ("Every decision: planned, posted, skipped or failed, with its features and propensities.", "created_at"),
    "metric_snapshots": ("Append-only time series of each post's counters.", "collected_at"),
    "follower_snapshots": ("The account's follower count over time.", "collected_at"),
    "viral_examples": ("Other accounts' high performers: prompt inspiration only, never training data.", "collected_at"),
    "quarantine": ("Rejected input with its target table, payload and reason.", "received_at"),
}


def raw_asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", table])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(raw_asset_key(table), description=description, group_name="ingest", kinds={"sql"})
        for table, (description, _) in RAW_TABLES.items()
    ],
    can_subset=True,
    pool="warehouse",
)
def raw_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    wh = warehouse.get()
    applied = wh.migrate()
    if applied:
        context.log.info(f"applied migrations: {', '.join(applied)}")
    with wh.connect() as conn:
        for key in context.selected_asset_keys:
            table = key.path[-1]
            fresh_column = RAW_TABLES[table][1]
            rows, newest, accounts = conn.fetchone(
                f"select count(*), max({fresh_column}), count(distinct account_id) from raw.{table}"
            )
            metadata = {
                "dagster/row_count": int(rows),
                "dagster/relation_identifier": f"raw.{table}",
                "accounts": int(accounts),
                f"newest {fresh_column}": str(newest) if newest is not None else "none",
            }
            if table == "quarantine":
                by_target = conn.fetchall(
                    "select target_table, count(*) from raw.quarantine group by target_table order by target_table"
                )
                metadata["by target table"] = dg.MetadataValue.md(
                    "| target | rows |\n|---|---|\n" + "\n".join(f"| {t} | {n} |" for t, n in by_target)
                )
            else:
                quarantined = conn.scalar(
                    "select count(*) from raw.quarantine where target_table = ?", [f"raw.{table}"]
                )
                metadata["quarantined rows"] = int(quarantined)
            yield dg.MaterializeResult(asset_key=key, metadata=metadata)
