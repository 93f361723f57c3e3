"""Accounts as Dagster partitions: the learn and act assets are partitioned by account, the marts stay set-based.

`ACCOUNTS` is a dynamic partitions definition: a partition is added when an account is (`xbot accounts add`, and
every CLI run adds the accounts the warehouse knows, so an imported history or an account registered by the
evaluation has one too). One account's learning and planning is then a run of its own that the run launcher and
the executor can place anywhere, backfill (one run per account) and retry alone; a run over a range of accounts
(the CLI's and the closed loop's) learns each of them in one process, as before.

Inside a step, `partition_accounts(context)` gives the accounts the run covers; `learning_accounts` those of them
the learn steps learn.
"""

import dagster as dg

from xbot_assets.learned.store import static_accounts
from xbot_assets.warehouse.connection import Warehouse

ACCOUNTS = dg.DynamicPartitionsDefinition(name="accounts")

# A backfill of the learn or act assets launches one run per account: each can go to its own worker and fail alone.
ONE_RUN_PER_ACCOUNT = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)


def partition_accounts(context: dg.AssetExecutionContext) -> list[str]:
    """The accounts (partition keys) this run materializes, sorted."""
    return sorted(context.partition_keys)



def learning_accounts(context: dg.AssetExecutionContext, warehouse: Warehouse) -> tuple[list[str], dict]:
    """The run's accounts a learn step learns — all but the static ones — and the step's metadata naming those it
    left out. A static account (the evaluation's and the demo's baseline) plans from the seed defaults and reads no
    learned state, so learning it would be work nothing reads: a third of an evaluation's learning. Learning is
    recomputed from the history on every run, so an account that stops being static loses nothing."""
    accounts = partition_accounts(context)
    with warehouse.connect(read_only=True) as conn:
        static = static_accounts(conn)
    skipped = [a for a in accounts if a in static]
    if not skipped:
        return accounts, {}
    context.log.info(f"not learned (static policy: no learned state is read): {', '.join(skipped)}")
    return [a for a in accounts if a not in static], {"not learned (static policy)": ", ".join(skipped)}
