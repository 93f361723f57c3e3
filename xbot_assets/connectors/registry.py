"""Which connector an account uses: the one place that knows every connector kind (and so joins the simulator to
the act steps, which see only `base.Connector`)."""

from __future__ import annotations

from typing import Protocol

from xbot_assets.connectors.base import Connector
from xbot_assets.warehouse.connection import Warehouse


class ConnectedAccount(Protocol):
    account_id: str
    connector: str
    scenario: str | None
    sim_seed: int | None


def connector_for(warehouse: Warehouse, account: ConnectedAccount) -> Connector:
    """The connector `account.connector` names; imported only when used, so no caller loads every platform."""
    if account.connector == "simulator":
        from xbot_assets.connectors.simulator import SimulatorConnector

        return SimulatorConnector.for_account(warehouse, account.account_id, account.scenario, account.sim_seed)
    raise ValueError(f"no connector {account.connector!r}")

