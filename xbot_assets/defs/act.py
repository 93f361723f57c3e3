"""The act group: plan the next posts from what was learned; publish the due ones; collect metrics and followers.

The loop is a cycle and the graph stays a DAG: `act/planned_posts` depends on the learn assets and writes its
candidates into raw.posts, and the publishing and collecting jobs write raw.posts, raw.metric_snapshots and
raw.follower_snapshots. Each of them reports what it wrote as a materialization of those raw assets, so the UI shows
which run produced the rows and downstream automation sees new data, without an edge that would close a cycle.

Accounts are registered in act.accounts (connector, policy, generator policy, posts a day); every step acts for each
enabled account, and one account's failure never stops the others: planning reports it (act.alerts, the step's
metadata, `defs.isolation`) and succeeds with the others' plans; the publishing and collecting ops act for every
account and then fail, naming the accounts that failed (nothing runs after them in their job; the failed run is the
one alert the run-failure sensor writes).
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at definition time.

import dagster as dg

from xbot_assets.acting.accounts import Account, accounts, find_account
from xbot_assets.acting.collecting import collect_metrics, snapshot_followers
from xbot_assets.acting.planning import plan_posts
from xbot_assets.acting.publishing import publish_due
from xbot_assets.connectors.registry import connector_for
from xbot_assets.defs.isolation import AccountLoop
from xbot_assets.defs.learn import (
    BANDIT_ARMS,
    ENGAGEMENT,
    FOLLOW,
    GENERATOR_POSTERIOR,
    GENERATOR_WEIGHTS,
)
from xbot_assets.defs.learn_strategy import FORMULAS
from xbot_assets.defs.metadata import markdown_table
from xbot_assets.defs.partitions import ACCOUNTS, ONE_RUN_PER_ACCOUNT, partition_accounts
from xbot_assets.defs.resources import ClockResource, RedisResource, WarehouseResource, XApiResource
from xbot_assets.ingest.load import write_viral_examples
from xbot_assets.ingest.records import LoadReport
from xbot_assets.warehouse.connection import WarehouseUnavailable

PLANNED_POSTS = dg.AssetKey(["act", "planned_posts"])


def raw_materialization(report: LoadReport, description: str, **extra) -> dg.AssetMaterialization:
    """A materialization of the raw table a step wrote, with the writer's counts."""
    return dg.AssetMaterialization(
        asset_key=dg.AssetKey(["raw", report.table.split(".")[1]]),
        description=description,
        metadata={**report.as_metadata(), **extra},
    )


def _accounts(warehouse, only: str | None = None) -> list[Account]:
    with warehouse.connect() as conn:
        found = accounts(conn)
    if only:
        found = [a for a in found if a.account_id == only]
        if not found:
            raise dg.Failure(f"no enabled account {only!r} in act.accounts (xbot accounts list)")
    return found


def _for_each_account(context, accounts: list[Account], step) -> None:
    """Run `step` for every account; one account's failure (credentials missing, the platform down, its data) is
    logged and the others still act; the op fails at the end, naming every account that failed."""
    failed = []
    for account in accounts:
        try:
            step(account)
        except WarehouseUnavailable:
            raise  # no account's fault: every other account would fail the same way
        except Exception as exc:
            context.log.error(f"{account.account_id}: {type(exc).__name__}: {exc}")
            failed.append(f"{account.account_id}: {exc}")
    if failed:
        raise dg.Failure(description="; ".join(failed)[:2000])


class ActConfig(dg.Config):
    """`account`: act for this enabled account only (the CLI's --account); empty = every enabled account."""

    account: str = ""


@dg.asset(
    key=PLANNED_POSTS,
    group_name="act",
    pool="warehouse",
    partitions_def=ACCOUNTS,
    backfill_policy=ONE_RUN_PER_ACCOUNT,
    deps=[BANDIT_ARMS, ENGAGEMENT, FOLLOW, GENERATOR_WEIGHTS, GENERATOR_POSTERIOR, FORMULAS],
    kinds={"python"},
    description=(
        "The rest of today's posts of each enabled account (one partition per account): content type by Thompson sampling, hour by UCB1, "
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
    loop = AccountLoop(context, wh, now, "act/planned_posts")
    partitions = set(partition_accounts(context))
    enabled = [a for a in _accounts(wh) if a.account_id in partitions]
    reports = [report for account in enabled if (report := loop.run(
        account.account_id, lambda account=account: plan_posts(wh, account, now, redis_url=redis.url))) is not None]
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
    if not reports and not loop.failures:
        context.log.warning(f"no enabled account of {sorted(partitions)} in act.accounts: nothing planned")
    return dg.MaterializeResult(metadata=loop.finish(metadata))


@dg.op(pool="warehouse", description="Publish every queued post whose time has come, within the safety limits.")
def publish_due_posts(context: dg.OpExecutionContext, config: ActConfig, warehouse: WarehouseResource,
                      clock: ClockResource, x_api: XApiResource) -> None:
    wh = warehouse.get()
    now = clock.now()

    def publish(account: Account) -> None:
        report = publish_due(wh, connector_for(wh, account, x_api), account, now)
        for note in report.notes:
            context.log.info(note)
        if report.stopped:
            context.log.error(f"{account.account_id}: publishing stopped: {report.stopped}")
        if report.posts.loaded or report.posts.updated or report.posts.quarantined_total:
            context.log_event(raw_materialization(report.posts, f"{account.account_id}: posts published",
                                                  account=account.account_id, published=len(report.published)))

    _for_each_account(context, _accounts(wh, config.account), publish)


@dg.op(pool="warehouse", description="Read the counters of every post that reached a snapshot age, in batches of 100 ids.")
def collect_post_metrics(context: dg.OpExecutionContext, config: ActConfig, warehouse: WarehouseResource,
                         clock: ClockResource, x_api: XApiResource) -> None:
    wh = warehouse.get()
    now = clock.now()

    def collect(account: Account) -> None:
        report = collect_metrics(wh, connector_for(wh, account, x_api), account, [now])
        if report.loaded or report.quarantined_total:
            context.log_event(raw_materialization(report, f"{account.account_id}: metrics collected",
                                                  account=account.account_id))

    _for_each_account(context, _accounts(wh, config.account), collect)


@dg.op(pool="warehouse", description="Read each account's follower count.", ins={"after": dg.In(dg.Nothing)})
def snapshot_account_followers(context: dg.OpExecutionContext, config: ActConfig, warehouse: WarehouseResource,
                               clock: ClockResource, x_api: XApiResource) -> None:
    wh = warehouse.get()
    now = clock.now()

    def read(account: Account) -> None:
        report = snapshot_followers(wh, connector_for(wh, account, x_api), account, [now])
        context.log_event(raw_materialization(report, f"{account.account_id}: followers read",
                                              account=account.account_id))

    _for_each_account(context, _accounts(wh, config.account), read)


@dg.job(executor_def=dg.in_process_executor, description="Publish the due posts of every enabled account.")
def publish_job():
    publish_due_posts()


@dg.job(executor_def=dg.in_process_executor, description="Collect the metrics of posts that reached a snapshot age.")
def collect_metrics_job():
    collect_post_metrics()


@dg.job(executor_def=dg.in_process_executor, description="Snapshot every account's follower count.")
def follower_snapshot_job():
    snapshot_account_followers()


@dg.job(executor_def=dg.in_process_executor,
        description="Collect the metrics of posts that reached a snapshot age, then every account's follower count "
                    "(`xbot collect`).")
def collect_job():
    snapshot_account_followers(collect_post_metrics())


class HarvestConfig(dg.Config):
    """`account`: an x-api account whose access (and budget) the search uses; `query`: X's search syntax;
    `min_likes`: keep posts with at least this many likes; `max_results`: 10..100 posts read (each one costs a read)."""

    account: str
    query: str
    min_likes: int = 100
    max_results: int = 100


@dg.op(pool="warehouse", description="Fill raw.viral_examples from X's recent search: other accounts' high "
                                     "performers, for prompts only, never for training; within the budget.")
def harvest_viral_examples(context: dg.OpExecutionContext, config: HarvestConfig, warehouse: WarehouseResource,
                           clock: ClockResource, x_api: XApiResource) -> None:
    wh = warehouse.get()
    now = clock.now()
    with wh.connect() as conn:
        account = find_account(conn, config.account)
    if account is None or account.connector != "x-api":
        raise dg.Failure(f"harvest needs an x-api account; {config.account!r} is "
                         f"{'unknown' if account is None else account.connector}")
    connector = connector_for(wh, account, x_api)
    posts = connector.search_recent(config.query, config.max_results)
    keep = [p for p in posts if (p["likes"] or 0) >= config.min_likes]
    rows = [{"example_id": f"x-{p['id']}", "account_id": account.account_id, "author_handle": p["author_handle"],
             "content": p["text"], "impressions": p["impressions"], "likes": p["likes"], "retweets": p["retweets"],
             "replies": p["replies"], "topic": config.query, "collected_at": now, "source": "real"} for p in keep]
    with wh.connect() as conn:
        report = write_viral_examples(conn, rows, now=now, source_name=f"x search {config.query!r}")
    context.log.info(f"{len(posts)} posts read, {len(keep)} with ≥ {config.min_likes} likes: {report.summary()}")
    context.log_event(raw_materialization(report, f"viral examples for {account.account_id}: {config.query!r}",
                                          read=len(posts), kept=len(keep)))


@dg.job(executor_def=dg.in_process_executor, description="Harvest viral examples (`xbot harvest viral`).")
def harvest_viral_job():
    harvest_viral_examples()


@dg.definitions
def act_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[planned_posts],
                          jobs=[publish_job, collect_metrics_job, follower_snapshot_job, collect_job,
                                harvest_viral_job])
