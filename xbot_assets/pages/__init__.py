"""The operator's pages: what the account did, what the bot learned, what it will post next and why.

`data` reads one account's numbers from the warehouse (frames in, no HTML), `charts` turns them into Vega-Lite specs,
`dashboard` lays them out as one self-contained HTML page (vega inlined, nothing fetched), `html` holds the shared
table pieces. Imports `acting`, `learned`, `connectors`, `ingest` and `warehouse`; imported by `defs` (the
operator_dashboard asset builds the pages) and `operator` (`xbot report`, `xbot status`).
"""
