"""The learned state (schema `learn`): what the learn group writes and planning, the CLI and the checks read back.

Plain Python over `Warehouse`: the Dagster assets of the learn group (`defs/learn.py`), the operator's commands and
planning all call these modules, so there is one way to learn, one way to store what was learned and one way to read
it back. The math lives in `xbot_assets.learning` (pure); these modules read the marts, call it and write the results.

- `store`: the learn group's settings, fingerprints, canonical values, the weights' per-account lock;
- `arms`: `learn.bandit_arms`; `posteriors`: `learn.generator_posteriors`;
- `models`: training and the versioned `learn.model_registry`; `serving`: Redis publishing and the model loader;
- `weights`: the generator weights, their events and one optimization cycle; `controls`: lock, unlock, set by hand;
- `checks`: the invariants the asset checks and `xbot health` report.

Idempotence (rematerializing on unchanged data with the same clock leaves every table as it was): arms and
posteriors are recomputed from the whole history and replace the account's rows; a model version is registered only
when the fingerprint of its training data changed; an optimization cycle runs once per change of evidence.

May import: `learning`, `warehouse`, `settings`, `clock`. Imported by: `defs`, `acting`, `evaluation`, `operator`.
"""
