"""Connectors: how xbot reaches a platform to publish posts, read their metrics and read the follower count.

`base.Connector` is the one interface; `simulator.SimulatorConnector` implements it on the simulated audience (the
only module here that imports `simulation`); `registry.connector_for` builds the connector an account names. The X
API v2 and Playwright connectors implement the same three methods.

Imports `warehouse`, `settings`, `clock` (and the simulator connector `simulation`). The act steps (`acting`) see
only `base`; `defs`, `evaluation` and `operator` build connectors through `registry`.
"""
