"""Where the suite's real services are: PostgreSQL (an admin URL that may create and drop test databases) and Redis.

Tests import these from `conftest` (which re-exports them); tests under tests/faults import them from here, because
that folder's own conftest shadows the name.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

PG_ADMIN_URL = os.environ.get("XBOT_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Each of pytest-xdist's worker processes (gw0, gw1, ...) gets two Redis databases of its own, counting down from 15:
# REDIS_URL's (15, 13, 11, ...) and a spare one below it for a test that needs a database no other test writes
# (tests/faults/test_cache_faults.py). Tests flush theirs; two workers sharing one would empty each other's mid-test.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_REDIS_DB = 15 - 2 * (_WORKER % 8)
REDIS_URL = os.environ.get("XBOT_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{_REDIS_DB}")
REDIS_SPARE_DB = _REDIS_DB - 1


def _admin_connection():
    import psycopg2

    from xbot_assets.settings import WarehouseTarget

    t = WarehouseTarget.parse(PG_ADMIN_URL)
    conn = psycopg2.connect(host=t.host, port=t.port, user=t.user, password=t.password, dbname=t.dbname)
    conn.autocommit = True
    return conn, t


@contextmanager
def throwaway_databases(count: int = 1) -> Iterator[list[str]]:
    """`count` PostgreSQL databases made for the caller alone (their URLs), dropped afterwards whatever happens."""
    admin, t = _admin_connection()
    names = [f"xbot_test_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    auth = t.user + (f":{t.password}" if t.password else "")
    try:
        with admin.cursor() as cur:
            for name in names:
                cur.execute(f"create database {name}")
        yield [f"postgresql://{auth}@{t.host}:{t.port}/{name}" for name in names]
    finally:
        with admin.cursor() as cur:
            for name in names:
                cur.execute(f"drop database if exists {name} with (force)")
        admin.close()


@contextmanager
def throwaway_database() -> Iterator[str]:
    """One PostgreSQL database made for the caller alone, dropped afterwards."""
    with throwaway_databases(1) as (url,):
        yield url


def materialize_for_accounts(assets, url: str, **kwargs):
    """`dg.materialize` of `assets` (some partitioned by account) for every account the warehouse at `url` knows,
    each given its partition first: one run over the range of them, as `xbot refresh` runs."""
    import dagster as dg

    from xbot_assets.runtime.instance import account_partition_tags, warehouse_accounts
    from xbot_assets.warehouse.connection import Warehouse

    instance = kwargs.pop("instance", None) or dg.DagsterInstance.ephemeral()
    tags = account_partition_tags(warehouse_accounts(Warehouse.from_url(url)), on_instance=instance)
    return dg.materialize(assets, instance=instance, tags={**(tags or {}), **kwargs.pop("tags", {})}, **kwargs)
