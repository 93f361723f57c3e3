"""The warehouse plumbing: one connection API over DuckDB or PostgreSQL (`connection`), the versioned, idempotent
migrations of the raw, learn, act and sim schemas (`migrations`), and the one value normaliser every writer uses
(`values`: numpy, pandas and engine types to plain Python).

Imports only `settings` and `clock`; everything above it may import it (the pure `learning` modules only `values`).
"""
