"""Ingest: the validated writers of the raw tables, with quarantine for whatever cannot be true.

`records` holds the tables' columns and vocabularies, `LoadReport` and the quarantine; `load` the writers of posts,
follower snapshots and viral examples and the CSV reader; `metrics` the writer of metric snapshots; `parse` the
parsers of the values people and platforms write. `xbot load` and every connector's data go through the same writers.

Imports `warehouse`, `settings`, `clock`. Imported by `acting`, `defs`, `evaluation`, `operator`.
"""
