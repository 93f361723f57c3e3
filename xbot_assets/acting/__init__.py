"""Acting: from learned state to posts on the platform.

- `planner`: the pure planning of a day (UCB1 hours, Thompson content, generators by weights or posterior, gates);
- `generators/`: the text generators (the offline template generator today); `text_features`: the quality gate,
  novelty, expertise and viral scores;
- `accounts`: the accounts xbot acts for (`act.accounts`); `planning`, `publishing`, `collecting`: the act steps on
  a warehouse; `lock`: the plan/publish lock (Redis or the warehouse).

Imports `learned`, `learning`, `connectors.base` (never a concrete connector, never the simulator), `ingest`,
`warehouse`, `settings`, `clock`. Imported by `defs`, `evaluation` and `operator`.
"""
