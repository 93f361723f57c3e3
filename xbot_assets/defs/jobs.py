import dagster as dg

# Everything downstream of the raw tables (and the raw tables' own bookkeeping), in one process: each step in a
# separate process would cost seconds of start-up and a re-import of dbt for milliseconds of work.
refresh_job = dg.define_asset_job(
    "refresh_job",
    selection=dg.AssetSelection.all(),
    description="Migrate and describe the raw tables, then rebuild every model and learned table from them.",
    executor_def=dg.in_process_executor,
)

# The evaluation's daily cycle: the same assets without their checks. Checks judge the data, they change no decision,
# and on a 60-day evaluation their ~80 dbt tests and Python checks are most of each run's cost.
learn_and_plan_job = dg.define_asset_job(
    "learn_and_plan_job",
    selection=dg.AssetSelection.all().without_checks(),
    description="Rebuild the marts, learn and plan, without running the asset checks (used by `xbot evaluate`).",
    executor_def=dg.in_process_executor,
)
