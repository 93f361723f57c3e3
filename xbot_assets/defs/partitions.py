"""Accounts as Dagster partitions: the learn and act assets are partitioned by account, the marts stay set-based.

`ACCOUNTS` is a dynamic partitions definition: a partition is added when an account is (`xbot accounts add`, and
every CLI run adds the accounts the warehouse knows, so an imported history or an account registered by the
evaluation has one too). One account's learning and planning is then a run of its own that the run launcher and
the executor can place anywhere, backfill (one run per account) and retry alone; a run over a range of accounts
(the CLI's and the closed loop's) learns each of them in one process, as before.

Inside a step, `partition_accounts(context)` gives the accounts the run covers.
"""

import dagster as dg

ACCOUNTS = dg.DynamicPartitionsDefinition(name="accounts")

# A backfill of the learn or act assets launches one run per account: each can go to its own worker and fail alone.
ONE_RUN_PER_ACCOUNT = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)


def partition_accounts(context: dg.AssetExecutionContext) -> list[str]:
    """The accounts (partition keys) this run materializes, sorted."""
    return sorted(context.partition_keys)
