"""Judging policies on the simulator: the closed loop on simulated time (`closed_loop`: the definitions' jobs run at
the times the production schedules would run them), the static policy's history (`static_history`, also the tests'
and benchmarks' fixture data) and `xbot evaluate` (`evaluate`: share of oracle, lift, regret, model scores).

Imports `runtime`, `acting`, `connectors`, `simulation`, `learned`, `learning`, `ingest`, `warehouse`, `settings`,
`clock`. Imported only by `operator`.
"""
