"""Resources bound project-wide: the warehouse and the clock (dbt runs in process: xbot_assets/defs/transform.py)."""


import os
from contextlib import contextmanager
from datetime import datetime

import dagster as dg

from xbot_assets.clock import WallClock, utc_naive
from xbot_assets.settings import WAREHOUSE_ENV, WarehouseTarget, ensure_warehouse_env
from xbot_assets.warehouse import Warehouse


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


@dg.definitions
def resources() -> dg.Definitions:
    ensure_warehouse_env()
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(url=dg.EnvVar(WAREHOUSE_ENV)),
            "clock": ClockResource(),
        },
    )
