import dagster as dg

# Everything downstream of the raw tables (and the raw tables' own bookkeeping), in one process: each step in a
# separate process would cost seconds of start-up and a re-import of dbt for milliseconds of work.
refresh_job = dg.define_asset_job(
    "refresh_job",
    selection=dg.AssetSelection.all(),
    description="Migrate and describe the raw tables, then rebuild every model and learned table from them.",
    executor_def=dg.in_process_executor,
)
