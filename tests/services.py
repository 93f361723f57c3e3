"""Where the suite's real services are: PostgreSQL (an admin URL that may create and drop test databases) and Redis.

Tests import these from `conftest` (which re-exports them); tests under tests/faults import them from here, because
that folder's own conftest shadows the name.
"""

from __future__ import annotations

import os

PG_ADMIN_URL = os.environ.get("XBOT_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("XBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _admin_connection():
    import psycopg2

    from xbot_assets.settings import WarehouseTarget

    t = WarehouseTarget.parse(PG_ADMIN_URL)
    conn = psycopg2.connect(host=t.host, port=t.port, user=t.user, password=t.password, dbname=t.dbname)
    conn.autocommit = True
    return conn, t
