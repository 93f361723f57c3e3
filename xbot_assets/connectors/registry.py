"""Which connector an account uses: the one place that knows every connector kind (and so joins the simulator to
the act steps, which see only `base.Connector`)."""

from __future__ import annotations

from typing import Protocol

from xbot_assets.connectors.base import Connector, ConnectorError
from xbot_assets.connectors.x_api.auth import OAuth1Credentials, XApiSettings
from xbot_assets.connectors.x_api.oauth2 import OAuth2Credentials
from xbot_assets.warehouse.connection import Warehouse


class ConnectedAccount(Protocol):
    account_id: str
    connector: str
    scenario: str | None
    sim_seed: int | None
    credentials_prefix: str | None
    handle: str | None


class XApiAccess(Protocol):
    """What the X connector needs from the deployment (the Dagster resource in defs/resources.py): the
    credentials under a prefix, and the connector's settings."""

    def credentials(self, prefix: str | None) -> OAuth1Credentials | OAuth2Credentials: ...

    def settings(self) -> XApiSettings: ...


def connector_for(warehouse: Warehouse, account: ConnectedAccount, x_api: XApiAccess | None = None) -> Connector:
    """The connector `account.connector` names; imported only when used, so no caller loads every platform."""
    if account.connector == "simulator":
        from xbot_assets.connectors.simulator import SimulatorConnector

        return SimulatorConnector.for_account(warehouse, account.account_id, account.scenario, account.sim_seed)
    if account.connector == "x-api":
        from xbot_assets.connectors.ledger import ApiLedger
        from xbot_assets.connectors.x_api.client import XApiClient
        from xbot_assets.connectors.x_api.connector import XApiConnector

        if x_api is None:
            raise ConnectorError(f"account {account.account_id} uses the X API but no X API access is configured")
        settings = x_api.settings()
        client = XApiClient(x_api.credentials(account.credentials_prefix).auth(),
                            ApiLedger(warehouse, account.account_id, account.connector), base_url=settings.base_url,
                            connect_timeout=settings.connect_timeout, read_timeout=settings.read_timeout,
                            max_attempts=settings.max_attempts, max_wait_seconds=settings.max_wait_seconds)
        return XApiConnector(client, account.account_id, analytics=settings.analytics,
                             publish_attempts=settings.max_attempts,
                             reconcile_delay_seconds=settings.reconcile_delay_seconds)
    if account.connector == "x-web":
        from xbot_assets.connectors.x_web import XWebConnector

        return XWebConnector(account.account_id, account.handle, credentials_prefix=account.credentials_prefix)
    raise ConnectorError(f"account {account.account_id}: no connector {account.connector!r}")

