"""The act group: plan the next posts from what was learned; publish the due ones; collect metrics and followers.

The loop is a cycle and the graph stays a DAG: `act/planned_posts` depends on the learn assets and writes its
candidates into raw.posts, and the publishing and collecting jobs write raw.posts, raw.metric_snapshots and
raw.follower_snapshots. Each of them reports what it wrote as a materialization of those raw assets, so the UI shows
which run produced the rows and downstream automation sees new data, without an edge that would close a cycle.

Accounts are registered in act.accounts (connector, policy, generator policy, posts a day); every step acts for each
enabled account.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at definition time.

import dagster as dg

from xbot_assets.acting.accounts import Account, accounts
from xbot_assets.acting.collecting import collect_metrics, snapshot_followers
from xbot_assets.acting.planning import plan_posts
from xbot_assets.acting.publishing import publish_due
from xbot_assets.connectors.registry import connector_for
from xbot_assets.defs.learn import (
    BANDIT_ARMS,
    ENGAGEMENT,
    FOLLOW,
    GENERATOR_POSTERIOR,
    GENERATOR_WEIGHTS,
)
from xbot_assets.defs.metadata import markdown_table
from xbot_assets.defs.resources import ClockResource, RedisResource, WarehouseResource
from xbot_assets.ingest.records import LoadReport

PLANNED_POSTS = dg.AssetKey(["act", "planned_posts"])


def raw_materialization(report: LoadReport, description: str, **extra) -> dg.AssetMaterialization:
    """A materialization of the raw table a step wrote, with the writer's counts."""
    return dg.AssetMaterialization(
        asset_key=dg.AssetKey(["raw", report.table.split(".")[1]]),
        description=description,
        metadata={**report.as_metadata(), **extra},
    )


def _accounts(warehouse) -> list[Account]:
    with warehouse.connect() as conn:
        return accounts(conn)


@dg.asset(
    key=PLANNED_POSTS,
    group_name="act",
    pool="warehouse",
    deps=[BANDIT_ARMS, ENGAGEMENT, FOLLOW, GENERATOR_WEIGHTS, GENERATOR_POSTERIOR],
    kinds={"python"},
    description=(
        "The rest of today's posts for every enabled account: content type by Thompson sampling, hour by UCB1, "
        "generator by the weights (or posterior sampling), text, quality gate, predictions and the threshold gate. "
        "Every candidate, queued or skipped, lands in raw.posts with its propensities and reasons."
    ),
)
def planned_posts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, clock: ClockResource, redis: RedisResource
) -> dg.MaterializeResult:
    wh = warehouse.get()
    wh.migrate()
    now = clock.now()
    reports = [plan_posts(wh, account, now, redis_url=redis.url) for account in _accounts(wh)]
    total = LoadReport("raw.posts")
    for r in reports:
        total.merge(r.posts)
    context.log_event(raw_materialization(total, "candidates written by the planner", run_step="act/planned_posts"))
    rows = []
    for r in reports:
        for c in r.candidates:
            rows.append((r.account_id, c.status, str(c.scheduled_at), c.content_type, c.generator_name,
                         round(c.quality, 3), round(c.predicted_er, 4), round(c.predicted_follow_prob, 3),
                         round(c.content_propensity * c.generator_propensity * c.timing_propensity, 4),
                         c.skip_reason or "—"))
    metadata = {
        "accounts": len(reports),
        "queued": sum(r.queued for r in reports),
        "skipped": sum(r.skipped for r in reports),
        "as of": now.isoformat(sep=" "),
        "candidates": dg.MetadataValue.md(markdown_table(
            ["account", "status", "scheduled (UTC)", "content type", "generator", "quality", "pred. ER", "P(follow)",
             "propensity", "rejected because"], rows) if rows else "no free slot today"),
        "models": dg.MetadataValue.md("\n".join(f"- {r.account_id}: {r.models}" for r in reports) or "no accounts"),
    }
    if not reports:
        context.log.warning("no enabled account in act.accounts: nothing planned")
    return dg.MaterializeResult(metadata=metadata)


@dg.op(pool="warehouse", description="Publish every queued post whose time has come, within the safety limits.")
def publish_due_posts(context: dg.OpExecutionContext, warehouse: WarehouseResource, clock: ClockResource,
                      redis: RedisResource) -> None:
    wh = warehouse.get()
    now = clock.now()
    for account in _accounts(wh):
        report = publish_due(wh, connector_for(wh, account), account, now, redis_url=redis.url)
        for note in report.notes:
            context.log.info(note)
        if report.posts.loaded or report.posts.updated or report.posts.quarantined_total:
            context.log_event(raw_materialization(report.posts, f"{account.account_id}: posts published",
                                                  account=account.account_id, published=len(report.published)))


@dg.op(pool="warehouse", description="Read the counters of every post that reached a snapshot age, in batches of 100 ids.")
def collect_post_metrics(context: dg.OpExecutionContext, warehouse: WarehouseResource, clock: ClockResource) -> None:
    wh = warehouse.get()
    now = clock.now()
    for account in _accounts(wh):
        report = collect_metrics(wh, connector_for(wh, account), account, [now])
        if report.loaded or report.quarantined_total:
            context.log_event(raw_materialization(report, f"{account.account_id}: metrics collected",
                                                  account=account.account_id))


@dg.op(pool="warehouse", description="Read each account's follower count.")
def snapshot_account_followers(context: dg.OpExecutionContext, warehouse: WarehouseResource,
                               clock: ClockResource) -> None:
    wh = warehouse.get()
    now = clock.now()
    for account in _accounts(wh):
        report = snapshot_followers(wh, connector_for(wh, account), account, [now])
        context.log_event(raw_materialization(report, f"{account.account_id}: followers read",
                                              account=account.account_id))


@dg.job(executor_def=dg.in_process_executor, description="Publish the due posts of every enabled account.")
def publish_job():
    publish_due_posts()


@dg.job(executor_def=dg.in_process_executor, description="Collect the metrics of posts that reached a snapshot age.")
def collect_metrics_job():
    collect_post_metrics()


@dg.job(executor_def=dg.in_process_executor, description="Snapshot every account's follower count.")
def follower_snapshot_job():
    snapshot_account_followers()


@dg.definitions
def act_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[planned_posts], jobs=[publish_job, collect_metrics_job, follower_snapshot_job])
