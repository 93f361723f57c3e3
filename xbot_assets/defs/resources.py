"""Resources bound project-wide: the warehouse and the clock (dbt runs in process: xbot_assets/defs/transform.py)."""


import os
from contextlib import contextmanager
from datetime import datetime

import dagster as dg

from xbot_assets.clock import WallClock, utc_naive
from xbot_assets.connectors.base import ConnectorError
from xbot_assets.connectors.x_api.auth import (
    BASE_URL_ENV,
    CREDENTIAL_NAMES,
    DEFAULT_BASE_URL,
    DEFAULT_PREFIX,
    TOKEN_PATH,
    OAuth1Credentials,
    XApiSettings,
    credential_variables,
    default_token_file,
    oauth2_variables,
)
from xbot_assets.connectors.x_api.oauth2 import OAuth2Credentials
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


class XApiResource(dg.ConfigurableResource):
    """The X API v2 access of the deployment: the base URL and the default account's OAuth 1.0a credentials
    (XBOT_X_API_KEY, XBOT_X_API_SECRET, XBOT_X_ACCESS_TOKEN, XBOT_X_ACCESS_SECRET, bound as `dg.EnvVar`s so their
    values never appear in the run config or the UI). An account with `--credentials-prefix P` reads P+API_KEY etc.
    through `dg.EnvVar` when it runs; with P+OAUTH2_CLIENT_ID set it uses OAuth 2.0 user tokens instead."""

    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = None
    api_secret: str | None = None
    access_token: str | None = None
    access_secret: str | None = None

    def credentials(self, prefix: str | None) -> OAuth1Credentials | OAuth2Credentials:
        client_id_var, secret_var, file_var = oauth2_variables(prefix)
        if os.environ.get(client_id_var):
            return OAuth2Credentials(
                client_id=dg.EnvVar(client_id_var).get_value(),
                client_secret=dg.EnvVar(secret_var).get_value() if os.environ.get(secret_var) else None,
                token_file=os.environ.get(file_var) or default_token_file(prefix),
                token_url=self.settings().base_url.rstrip("/") + TOKEN_PATH)
        names = credential_variables(prefix)
        if (prefix or DEFAULT_PREFIX) == DEFAULT_PREFIX:
            values = [self.api_key, self.api_secret, self.access_token, self.access_secret]
        else:
            values = [dg.EnvVar(name).get_value() for name in names]
        missing = [name for name, value in zip(names, values, strict=True) if not value]
        if missing:
            raise ConnectorError(f"X API credentials missing from the environment: {', '.join(missing)}")
        return OAuth1Credentials(*values)

    def settings(self) -> XApiSettings:
        return XApiSettings.from_env(self.base_url)


def x_api_resource() -> XApiResource:
    """Bound to the environment: each credential is an EnvVar when it is set (an unset EnvVar fails every run, and
    a deployment without X accounts sets none)."""
    values = {field.lower(): dg.EnvVar(f"{DEFAULT_PREFIX}{field}") for field in CREDENTIAL_NAMES
              if os.environ.get(f"{DEFAULT_PREFIX}{field}")}
    base = dg.EnvVar(BASE_URL_ENV) if os.environ.get(BASE_URL_ENV) else DEFAULT_BASE_URL
    return XApiResource(base_url=base, **values)


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
            "x_api": x_api_resource(),
        },
    )
