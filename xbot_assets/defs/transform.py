"""dbt: staging → intermediate → marts, with dbt tests as asset checks and dbt sources mapped onto the raw assets."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from xbot_assets.defs.resources import ClockResource, WarehouseResource
from xbot_assets.project import dbt_project


class XbotDbtTranslator(DagsterDbtTranslator):
    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            # The raw tables are the Python assets of the ingest group: one key, unbroken lineage.
            return spec.replace_attributes(key=dg.AssetKey(["raw", props["name"]]))
        return spec.replace_attributes(group_name="transform")


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=XbotDbtTranslator(),
    pool="warehouse",
)
def xbot_dbt_assets(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, clock: ClockResource
):
    # The marts' 7-day windows end at the run's "now", so simulated time gives the same tables as wall time would.
    # It travels as an env var: a --vars value that changes every run would cost dbt a full re-parse each time.
    as_of = clock.now().isoformat(sep=" ")
    # No `.fetch_row_counts()`: it opens the warehouse through dbt's adapter inside this process and keeps a DuckDB
    # handle whose configuration then clashes with the next connection of our own.
    with warehouse.dbt_environment(XBOT_AS_OF=as_of):
        yield from dbt.cli(["build"], context=context).stream()
