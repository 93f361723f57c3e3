"""The report group: the operator's dashboard, one self-contained HTML page per account (xbot_assets/pages).

Rebuilt by refresh_job and plan_job, after learning and planning, so the page shows what was learned and what will be
posted next; not by the evaluation's learn_and_plan_job (sixty simulated days need no sixty pages). The metadata
links each account's page: its file, and its URL under `xbot serve`.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at definition time.

import os
import time

import dagster as dg

from xbot_assets.defs.act import PLANNED_POSTS
from xbot_assets.defs.isolation import AccountLoop
from xbot_assets.defs.learn import ENGAGEMENT, FOLLOW, GENERATOR_WEIGHTS
from xbot_assets.defs.metadata import markdown_table
from xbot_assets.defs.partitions import ACCOUNTS, ONE_RUN_PER_ACCOUNT, partition_accounts
from xbot_assets.defs.resources import ClockResource, WarehouseResource
from xbot_assets.pages.data import dashboard_accounts

OPERATOR_DASHBOARD = dg.AssetKey(["report", "operator_dashboard"])
REPORT_GROUP = "report"
# Where `xbot serve` serves the pages (its --dashboard-port); the metadata's links point there.
DASHBOARD_URL_ENV = "XBOT_DASHBOARD_URL"
DEFAULT_DASHBOARD_URL = "http://127.0.0.1:3001"


def dashboard_url(account_id: str) -> str:
    base = os.environ.get(DASHBOARD_URL_ENV) or DEFAULT_DASHBOARD_URL
    return f"{base.rstrip('/')}/{account_id}.html"


@dg.asset(
    key=OPERATOR_DASHBOARD,
    group_name=REPORT_GROUP,
    pool="warehouse",
    partitions_def=ACCOUNTS,
    backfill_policy=ONE_RUN_PER_ACCOUNT,
    deps=[PLANNED_POSTS, GENERATOR_WEIGHTS, ENGAGEMENT, FOLLOW],
    kinds={"python", "html"},
    description=(
        "The operator's dashboard, one page per account (partition): followers, impressions and engagements against the previous "
        "period, top and bottom posts, the best times to post, performance by content type and generator, the "
        "queue and why each post was chosen, and learning health (models, optimization, alerts, spend)."
    ),
)
def operator_dashboard(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                       clock: ClockResource) -> dg.MaterializeResult:
    # Imported here: the pages pull in altair (~0.25 s), which every process that loads the definitions would pay
    # for; only this step draws.
    from xbot_assets.pages.dashboard import build_dashboard, dashboard_dir

    wh = warehouse.get()
    wh.migrate()
    now = clock.now()
    with wh.connect(read_only=True) as conn:
        accounts = [a for a in dashboard_accounts(conn) if a in set(partition_accounts(context))]
    loop = AccountLoop(context, wh, now, "report/operator_dashboard")
    rows = []
    for account_id in accounts:
        started = time.perf_counter()
        path = loop.run(account_id, lambda a=account_id: build_dashboard(wh, a, now))
        if path is not None:
            rows.append((account_id, f"[{dashboard_url(account_id)}]({dashboard_url(account_id)})", str(path),
                         f"{time.perf_counter() - started:.2f}"))
    metadata = {
        "accounts": len(rows),
        "as of": now.isoformat(sep=" "),
        "directory": dg.MetadataValue.path(str(dashboard_dir())),
        "pages": dg.MetadataValue.md(markdown_table(["account", "URL (xbot serve)", "file", "build s"], rows)
                                     if rows else "no account yet"),
    }
    if len(rows) == 1:
        metadata["dashboard"] = dg.MetadataValue.url(dashboard_url(rows[0][0]))
    return dg.MaterializeResult(metadata=loop.finish(metadata))


@dg.definitions
def report_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[operator_dashboard])
