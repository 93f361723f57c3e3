"""Connectors: how xbot reaches a platform to publish posts, read their metrics and read the follower count.

`base.Connector` is the one interface; `simulator.SimulatorConnector` implements it on the simulated audience. The X
API v2 and Playwright connectors implement the same three methods.
"""
