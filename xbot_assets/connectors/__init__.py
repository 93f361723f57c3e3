"""Connectors: how xbot reaches a platform to publish posts, read their metrics and read the follower count.

`base.Connector` is the one interface; `simulator.SimulatorConnector` implements it on the simulated audience (the
only module here that imports `simulation`); `x_api/` is the X API v2 connector, with `ledger` the cost ledger of
its calls; `x_web` is the Playwright fallback that reads x.com's pages; `registry.connector_for` builds the
connector an account names.

Imports `warehouse`, `settings`, `clock`, `ingest.parse` (and the simulator connector `simulation`). The act steps
(`acting`) see only `base`; `defs`, `evaluation` and `operator` build connectors through `registry`.
"""
