"""The Dagster layer, thin: assets, checks, jobs, schedules, sensors and resources, loaded by
`xbot_assets.definitions` with `dg.load_from_defs_folder`. Groups mirror the graph: `ingest` (the raw tables),
`transform` (dbt), `learn` (its checks in `learn_checks`), `act`; `automation` holds the schedules and sensors,
`resources` the warehouse, clock and Redis resources, `metadata` the markdown tables the metadata shows.

Each asset calls the plain modules below it (`ingest`, `learned`, `acting`, `connectors`) and returns a
`dg.MaterializeResult`. Imported by `runtime` (through `definitions`) and `operator`; nothing below imports it.
"""
