"""Resources bound project-wide: the warehouse and the clock (dbt runs in process: xbot_assets/defs/transform.py)."""


import os
from contextlib import contextmanager
from datetime import datetime

import dagster as dg

from xbot_assets.clock import WallClock, utc_naive
from xbot_assets.settings import WAREHOUSE_ENV, WarehouseTarget, ensure_warehouse_env
from xbot_assets.warehouse.connection import Warehouse

REDIS_ENV = "XBOT_REDIS_URL"


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse named by XBOT_WAREHOUSE: a DuckDB path or a postgresql:// URL (a secret: pass it as an EnvVar)."""

    url: str

    @property
    def target(self) -> WarehouseTarget:
        return WarehouseTarget.parse(self.url)

    def get(self) -> Warehouse:
        return Warehouse(self.target)

    @contextmanager
    def dbt_environment(self, **extra: str):
        """dbt reads its connection from the environment; point it at this warehouse for the block's duration."""
        values = {**self.target.dbt_env(), **extra}
        saved = {key: os.environ.get(key) for key in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, old in saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old


class ClockResource(dg.ConfigurableResource):
    """The run's "now": wall time unless `simulated_now` (ISO 8601, UTC) is given."""

    simulated_now: str | None = None

    def now(self) -> datetime:
        if self.simulated_now:
            return utc_naive(datetime.fromisoformat(self.simulated_now.replace("Z", "+00:00")))
        return WallClock().now()


class RedisResource(dg.ConfigurableResource):
    """Where the newest models are published for planning. `url` None (XBOT_REDIS_URL unset) means no Redis:
    nothing is published and planning reads the warehouse registry. `key_prefix` namespaces the keys (tests, or
    several deployments sharing one Redis)."""

    url: str | None = None
    key_prefix: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.url)


@dg.definitions
def resources() -> dg.Definitions:
    ensure_warehouse_env()
    # An EnvVar only when the variable is set: an EnvVar that is unset fails the run, and unset must mean "no Redis".
    redis = RedisResource(url=dg.EnvVar(REDIS_ENV)) if os.environ.get(REDIS_ENV) else RedisResource()
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(url=dg.EnvVar(WAREHOUSE_ENV)),
            "clock": ClockResource(),
            "redis": redis,
        },
    )
