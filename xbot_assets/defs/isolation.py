"""One account's trouble never stops another's: the per-account loop of the learn and act steps.

Each account's work runs on its own (its own transactions); an account whose work raises is logged, listed in the
step's metadata and recorded as one row of act.alerts, and the loop goes on with the next account. The step then
succeeds with what the healthy accounts produced, so the assets downstream (planning after learning) still run for
them; the failed account keeps its last good learned state, which planning reads.

When every account failed the step fails instead, naming each account's error: nothing downstream has anything new
to work with, and a failed run is what the operator's monitors (`xbot health`, the run-failure sensor) look at. No
per-account alert is written then: the run-failure sensor writes the one alert for that run, so one failure is never
alerted twice.

A warehouse that cannot be opened is no account's fault: WarehouseUnavailable ends the step at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import dagster as dg

from xbot_assets.acting.alerts import record_alert
from xbot_assets.defs.metadata import markdown_table
from xbot_assets.warehouse.connection import Warehouse, WarehouseUnavailable

T = TypeVar("T")


@dataclass
class AccountLoop:
    """Run `step`'s work account by account (see the module docstring); `failures` maps account → error."""

    context: dg.AssetExecutionContext | dg.OpExecutionContext
    warehouse: Warehouse
    now: datetime
    step: str
    failures: dict[str, str] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)

    def run(self, account_id: str, work: Callable[[], T]) -> T | None:
        """`work()` for one account; None (and the failure recorded) when it raised."""
        try:
            result = work()
        except WarehouseUnavailable:
            raise
        except Exception as exc:  # any one account's error: report it and go on with the others
            self.fail(account_id, f"{type(exc).__name__}: {exc}")
            return None
        self.succeeded.append(account_id)
        return result

    def fail(self, account_id: str, error: str) -> None:
        """Record an account's failure that its work reported rather than raised."""
        error = " ".join(error.split())[:1000]
        self.context.log.error(f"{self.step}: account {account_id} failed, the others go on: {error}")
        self.failures[account_id] = error
        if account_id in self.succeeded:
            self.succeeded.remove(account_id)

    def metadata(self) -> dict:
        if not self.failures:
            return {"failed accounts": 0}
        return {
            "failed accounts": len(self.failures),
            "account failures": dg.MetadataValue.md(
                markdown_table(["account", "error"], sorted(self.failures.items()))
            ),
        }

    def finish(self, metadata: dict | None = None) -> dict:
        """Fail the step when every account failed; else alert each failed account. Returns `metadata` with the
        failures added."""
        metadata = {**(metadata or {}), **self.metadata()}
        if self.failures and not self.succeeded:
            raise dg.Failure(
                description=f"{self.step} failed for every account: "
                + "; ".join(f"{a}: {e}" for a, e in sorted(self.failures.items())),
                metadata=metadata,
            )
        run_id = self.context.run.run_id
        job_name = self.context.job_name
        for account_id, error in sorted(self.failures.items()):
            record_alert(self.warehouse, f"account_failure:{run_id}:{self.step}:{account_id}", self.now,
                         f"{self.step}: account {account_id}: {error}", job_name=job_name, severity="critical")
        return metadata
