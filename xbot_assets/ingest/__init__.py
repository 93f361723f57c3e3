"""Ingest: the validated writers of the raw tables, with quarantine for whatever cannot be true.

`records` holds the tables' columns and vocabularies, `LoadReport` (one outcome per input row) and the quarantine;
`load` the writers of posts, follower snapshots and viral examples; `metrics` the writer of metric snapshots;
`csv_files` the reader of a user's CSV (its encoding, its digest); `x_exports` X's analytics exports; `parse` the
parsers of the values people and platforms write. `xbot load` and every connector's data go through the same writers.

Imports `warehouse`, `settings`, `clock`. Imported by `acting`, `defs`, `evaluation`, `operator`.
"""
