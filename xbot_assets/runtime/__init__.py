"""How Python entry points reach Dagster: the instance (runs recorded where the UI finds them), the definitions, and
running a job in process (`instance`).

Imports `definitions`, `project`, `settings`. Imported by `evaluation` and `operator`.
"""
