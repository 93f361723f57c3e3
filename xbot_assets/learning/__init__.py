"""The pure learning math of xbot: pandas/numpy/scikit-learn in, plain values out.

Nothing in this package touches Dagster, the warehouse, Redis or the wall clock, so every function is a plain
calculation that tests can check by hand. The Dagster assets read tables, call these functions and store the results.

- `content_arms`: Beta posteriors per content type and Thompson sampling (with propensities for off-policy evaluation).
- `timing_arms`: per-hour reward statistics and UCB1.
- `features` / `predictors`: the ridge engagement model and the Poisson follow model, stored as plain JSON.
- `generator_weights`: tiers and the F/1K weight optimiser with its invariants (sum 1, floor, locks honoured).
- `generator_posterior`: Gamma–Poisson posteriors of each generator's F/1K and posterior sampling.
- `forgetting` / `decay`: the half-life each learner forgets at, chosen by the data, and the weights it gives.
- `change_points`: a step in an arm's follow rate (a Poisson likelihood-ratio test) and the restart it triggers.

Imports nothing of xbot but `warehouse.values` (plain JSON values). Imported by `learned`, `acting`, `defs`,
`evaluation` and `operator`.
"""
