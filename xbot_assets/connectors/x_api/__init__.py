"""The X API v2 connector: `wire` (both field-name dialects, read tolerantly), `client` (signed requests, timeouts,
rate limits, retries, the cost ledger), `connector` (publish, metrics, followers, reconcile, search), `auth`
(OAuth 1.0a credentials from the environment, settings).

Imports `connectors.base`, `connectors.ledger`, `warehouse`, `settings`. Built by `connectors.registry`.
"""
