"""Shared fixtures: a fresh DuckDB file or a fresh PostgreSQL database per test, dropped afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")

from fault_table import rows_of, write_summary
from services import (  # noqa: F401 (tests import them from here)
    PG_ADMIN_URL,
    REDIS_URL,
    _admin_connection,
    throwaway_database,
    throwaway_databases,
)


def pytest_sessionstart(session):
    # @dbt_assets reads the manifest when its module is imported, which happens during collection. Under
    # pytest-xdist the controller writes it once, before it starts the workers; the workers only read it.
    if hasattr(session.config, "workerinput"):
        return
    from xbot_assets.project import prepare_manifest

    prepare_manifest()


_FAULT_ROWS: list[dict] = []


def pytest_runtest_logreport(report):
    _FAULT_ROWS.extend(rows_of(report))  # in the controller too: pytest-xdist replays the workers' reports here


def pytest_terminal_summary(terminalreporter, config):
    if not hasattr(config, "workerinput"):
        write_summary(terminalreporter, _FAULT_ROWS)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL database made for this test alone."""
    with throwaway_database() as url:
        yield url


@pytest.fixture
def duckdb_url(tmp_path) -> str:
    return str(tmp_path / "warehouse.duckdb")


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request) -> str:
    """Each test that takes this runs once on DuckDB and once on PostgreSQL."""
    return request.getfixturevalue("duckdb_url" if request.param == "duckdb" else "pg_url")


@pytest.fixture
def warehouse_env(warehouse_url, monkeypatch) -> str:
    """Point XBOT_WAREHOUSE (and so both Python and dbt) at the test's warehouse."""
    monkeypatch.setenv("XBOT_WAREHOUSE", warehouse_url)
    return warehouse_url
