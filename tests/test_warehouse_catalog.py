"""The warehouse's catalog look-up answers alike on both engines (DuckDB asks its own catalog functions)."""

from __future__ import annotations

from xbot_assets.warehouse.connection import Warehouse


def test_table_exists_finds_tables_and_views_by_schema_on_both_engines(warehouse_url):
    warehouse = Warehouse.from_url(warehouse_url)
    with warehouse.connect() as conn:
        conn.execute("create schema if not exists learn")
        conn.execute("create schema if not exists analytics")
        conn.execute("create table learn.bandit_arms (arm_name varchar)")
        conn.execute("create view analytics.outcomes as select arm_name from learn.bandit_arms")
    with warehouse.connect() as conn:
        assert conn.table_exists("learn", "bandit_arms")
        assert conn.table_exists("analytics", "outcomes")  # a view, as dbt makes the staging models
        assert not conn.table_exists("analytics", "bandit_arms")  # the name in another schema only
        assert not conn.table_exists("learn", "outcomes")
        assert not conn.table_exists("nowhere", "bandit_arms")
    assert warehouse.table_exists("learn", "bandit_arms") and not warehouse.table_exists("learn", "missing")
