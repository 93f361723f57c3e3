"""The learn group: bandit arms, the engagement and follow models, the generator weights and posteriors (their
checks are in `learn_checks`).

Each asset reads the analytics marts, calls the pure learning code through `xbot_assets.learned`, writes the
`learn.*` tables through the warehouse resource and returns a MaterializeResult whose metadata a person can read in
the UI (markdown tables of arms, models next to their baselines, weights, sample and gate counts). Every account in
the marts is learned separately: one account's failure is reported (act.alerts, the step's metadata) and the others
are learned (`defs.isolation`); the step fails only when every account failed.

Settings (environment, read when an asset runs): XBOT_MIN_TRAINING_SAMPLES (50), XBOT_UCB_C (1.0),
XBOT_ARM_HALF_LIFE_DAYS (unset = no decay), XBOT_LEARNING_WINDOW_DAYS (7, the optimizer's window; keep it equal to
the dbt var learning_window_days), XBOT_MODEL_WINDOW_DAYS (30; 0 = all history).

Redis: set XBOT_REDIS_URL (e.g. redis://localhost:6379/0) and the model assets also publish the newest models as
JSON (`predictor:v2:latest` plus versioned keys). Leave it unset and nothing is published: planning then reads the
models from the warehouse registry (`xbot_assets.learned.serving.load_models` reports which source it used).
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at definition time.


import dagster as dg
import pandas as pd

from xbot_assets.defs.isolation import AccountLoop
from xbot_assets.defs.learn_strategy import formulas, strategy
from xbot_assets.defs.metadata import markdown_table
from xbot_assets.defs.partitions import ACCOUNTS, ONE_RUN_PER_ACCOUNT, learning_accounts
from xbot_assets.defs.resources import REDIS_ENV, ClockResource, RedisResource, WarehouseResource
from xbot_assets.learned.arms import learn_bandit_arms
from xbot_assets.learned.models import gate_counts, learn_models
from xbot_assets.learned.posteriors import PosteriorSettings, learn_generator_posteriors
from xbot_assets.learned.serving import publish_models
from xbot_assets.learned.store import LearningSettings, mart_accounts
from xbot_assets.learned.weights import OptimizationReport, optimize
from xbot_assets.learning.generator_weights import OptimizerSettings
from xbot_assets.learning.predictors import ENGAGEMENT_MODEL, FOLLOW_MODEL

OUTCOMES = dg.AssetKey(["analytics", "outcomes"])
TRAINING_SET = dg.AssetKey(["analytics", "training_set"])
POST_METRICS_BY_AGE = dg.AssetKey(["analytics", "post_metrics_by_age"])
GENERATOR_PERFORMANCE = dg.AssetKey(["analytics", "generator_performance"])

BANDIT_ARMS = dg.AssetKey(["learn", "bandit_arms"])
ENGAGEMENT = dg.AssetKey(["learn", "engagement_model"])
FOLLOW = dg.AssetKey(["learn", "follow_model"])
GENERATOR_WEIGHTS = dg.AssetKey(["learn", "generator_weights"])
GENERATOR_POSTERIOR = dg.AssetKey(["learn", "generator_posterior"])


def _settings_metadata(settings: LearningSettings) -> dict:
    return {
        "min training samples": settings.min_training_samples,
        "UCB c": settings.ucb_c,
        "arm half-life (days)": "no decay" if settings.arm_half_life_days is None else settings.arm_half_life_days,
        "optimizer window (days)": settings.learning_window_days,
        "model window (days)": "all history" if settings.model_window_days is None else settings.model_window_days,
        "model min post age (hours)": settings.model_min_age_hours,
        "engagement model reads posts from (hours)": min(settings.engagement_min_age_hours,
                                                         settings.model_min_age_hours),
        "engagement model half-life (days)": "none" if settings.engagement_half_life_days is None
        else settings.engagement_half_life_days,
    }


# ---------------------------------------------------------------------------------------------------------------------
# Bandit arms


@dg.asset(
    key=BANDIT_ARMS,
    group_name="learn",
    pool="warehouse",
    partitions_def=ACCOUNTS,
    backfill_policy=ONE_RUN_PER_ACCOUNT,
    deps=[OUTCOMES],
    kinds={"python", "sql"},
    description=(
        "Content arms (Beta posteriors, Thompson sampling) and timing arms (UCB1 over posting hours) per account, "
        "recomputed from the whole gated outcome history on every run, so nothing is ever double-counted."
    ),
)
def bandit_arms(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, clock: ClockResource
) -> dg.MaterializeResult:
    wh = warehouse.get()
    wh.migrate()
    settings = LearningSettings.from_env()
    now = clock.now()
    loop = AccountLoop(context, wh, now, "learn/bandit_arms")
    accounts, skipped = learning_accounts(context, wh)
    arms_by_account = learn_bandit_arms(wh, now, settings, run=loop.run, only=accounts)
    metadata: dict = {
        **skipped,
        "dagster/row_count": sum(len(a) for a in arms_by_account.values()),
        "dagster/relation_identifier": "learn.bandit_arms",
        "accounts": len(arms_by_account),
        "as of": now.isoformat(sep=" "),
        **_settings_metadata(settings),
    }
    for account_id, arms in arms_by_account.items():
        content = arms[arms["scope"] == "content"]
        timing = arms[(arms["scope"] == "timing") & (arms["plays"] > 0)]
        rewarded = int(timing["plays"].sum())
        # Real history often has no content type: the timing arms still learn, and the reason is shown.
        no_content = (
            f"\n\nNo content arm has evidence: none of the {rewarded} posts past the learning gate has a content type."
            if not content["plays"].sum() else ""
        )
        chosen = arms.groupby("scope", sort=True)["half_life_days"].first()
        metadata[f"{account_id}: half-life (days)"] = ", ".join(
            f"{scope} {'never' if pd.isna(h) else format(h, 'g')}" for scope, h in chosen.items())
        metadata[f"{account_id}: content arms"] = dg.MetadataValue.md(
            markdown_table(
                ["arm", "plays", "successes", "failures", "α", "β", "mean ER", "posterior mean", "P(Thompson picks)"],
                content[
                    ["arm_name", "plays", "successes", "failures", "alpha", "beta", "mean_reward", "posterior_mean",
                     "selection_probability"]
                ].itertuples(index=False, name=None),
            )
            + no_content
        )
        unplayed = int((arms[arms["scope"] == "timing"]["plays"] == 0).sum())
        metadata[f"{account_id}: timing arms"] = dg.MetadataValue.md(
            markdown_table(
                ["hour", "plays", "mean ER", "UCB1 index", "P(UCB picks)"],
                timing[["arm_value", "plays", "mean_reward", "ucb_index", "selection_probability"]].itertuples(
                    index=False, name=None
                ),
            )
            + f"\n\n{unplayed} of 24 hours never played (UCB1 tries those first)."
        )
        metadata[f"{account_id}: outcomes counted"] = int(content["plays"].sum())
    context.log.info(f"bandit arms for {len(arms_by_account)} accounts")
    return dg.MaterializeResult(metadata=loop.finish(metadata))


# ---------------------------------------------------------------------------------------------------------------------
# Models

_MODEL_COLUMNS = {
    ENGAGEMENT_MODEL: [("mae", "MAE"), ("baseline_mae", "baseline MAE"), ("r2", "R²"), ("baseline_r2", "baseline R²"),
                       ("young_posts", "young posts (settled by factor)")],
    FOLLOW_MODEL: [
        ("brier", "Brier"), ("baseline_brier", "baseline Brier"), ("auc", "AUC"), ("baseline_auc", "baseline AUC"),
        ("accuracy", "accuracy"), ("baseline_accuracy", "baseline accuracy"), ("precision", "precision"),
        ("recall", "recall"), ("mean_followers", "mean followers"),
        ("mean_predicted_followers", "mean predicted followers"),
    ],
}


def _gate_table(conn, accounts: list[str]) -> tuple[str, dict]:
    counts = gate_counts(conn)
    counts = counts[counts["account_id"].isin(accounts)]
    if counts.empty:
        return "no posted outcomes for these accounts", {"posted outcomes": 0, "passed the learning gate": 0}
    pivot = counts.pivot_table(index="account_id", columns="gate", values="posts", aggfunc="sum", fill_value=0)
    gates = list(pivot.columns)
    rows = [
        (account, int(pivot.loc[account].sum()), *[int(pivot.loc[account, g]) for g in gates])
        for account in pivot.index
    ]
    totals = {
        "posted outcomes": int(counts["posts"].sum()),
        "passed the learning gate": int(counts.loc[counts["gate"] == "passes the gate", "posts"].sum()),
    }
    return markdown_table(["account", "posted", *gates], rows), totals


def _publish(context, wh, redis: RedisResource, now) -> str:
    if not redis.configured:
        return f"not published: {REDIS_ENV} is not set (planning reads the warehouse registry)"
    report = publish_models(wh, redis.url, now, redis.key_prefix)
    if report.error:
        context.log.warning(report.describe())
    else:
        context.log.info(f"published {len(report.keys_written)} Redis keys")
    return report.describe()


def _model_asset(model_name: str, key: dg.AssetKey, description: str):
    @dg.asset(
        key=key,
        group_name="learn",
        pool="warehouse",
        partitions_def=ACCOUNTS,
        backfill_policy=ONE_RUN_PER_ACCOUNT,
        deps=[TRAINING_SET, OUTCOMES, *([POST_METRICS_BY_AGE] if model_name == ENGAGEMENT_MODEL else [])],
        kinds={"python", "scikitlearn"},
        description=description,
    )
    def model_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, clock: ClockResource, redis: RedisResource
    ) -> dg.MaterializeResult:
        wh = warehouse.get()
        wh.migrate()
        settings = LearningSettings.from_env()
        now = clock.now()
        loop = AccountLoop(context, wh, now, f"learn/{key.path[-1]}")
        accounts, skipped = learning_accounts(context, wh)
        outcomes = learn_models(wh, model_name, now, settings, run=loop.run, only=accounts)
        with wh.connect() as conn:
            gate_md, gate_totals = _gate_table(conn, accounts)
            versions = conn.scalar("select count(*) from learn.model_registry where model_name = ?", [model_name])
        columns = _MODEL_COLUMNS[model_name]
        rows = []
        for o in outcomes:
            rows.append(
                (
                    o.account_id, o.status, f"v{o.version}" if o.version is not None else "seed default",
                    o.n_samples, f"{o.n_train}/{o.n_holdout}",
                    *[o.metrics.get(m) for m, _ in columns],
                    {True: "yes", False: "NO", None: "—"}[o.beats_baseline], o.reason,
                )
            )
        redis_note = _publish(context, wh, redis, now)
        metadata = {
            **skipped,
            "dagster/row_count": int(versions),
            "dagster/relation_identifier": "learn.model_registry",
            "models": dg.MetadataValue.md(
                markdown_table(
                    ["account", "status", "in use", "samples", "train/holdout", *[label for _, label in columns],
                     "beats baseline", "reason"],
                    rows,
                )
            ),
            "learning gate": dg.MetadataValue.md(gate_md),
            **gate_totals,
            "training samples": sum(o.n_samples for o in outcomes),
            "new versions": sum(o.status == "registered" for o in outcomes),
            "not trained": sum(o.status == "not_trained" for o in outcomes),
            "losing to baseline": sum(o.beats_baseline is False for o in outcomes),
            "redis": redis_note,
            **_settings_metadata(settings),
        }
        return dg.MaterializeResult(metadata=loop.finish(metadata))

    return model_asset


engagement_model = _model_asset(
    ENGAGEMENT_MODEL,
    ENGAGEMENT,
    "Ridge regression of engagement rate on the post features, per account, validated on a time-ordered holdout "
    "(MAE and R² next to the training-mean baseline). A new registry version only when the training data changed.",
)
follow_model = _model_asset(
    FOLLOW_MODEL,
    FOLLOW,
    "Poisson regression of the followers each post gained on the post features, per account, serving P(follow) "
    "(at least XBOT_FOLLOW_MIN_FOLLOWERS followers), validated on a time-ordered holdout (Brier, AUC, accuracy, "
    "precision, recall next to the base-rate baseline; mean followers and mean predicted followers).",
)




# ---------------------------------------------------------------------------------------------------------------------
# Generator weights


def _weights_table(report: OptimizationReport, stored: dict) -> str:
    rows = []
    for name, after in sorted(report.weights_after.items(), key=lambda item: -item[1]):
        before = report.weights_before.get(name)
        perf = stored.get(name, {})
        rows.append(
            (
                name, report.statuses.get(name), before, after,
                None if before is None else f"{after - before:+.4f}", perf.get("posts"), perf.get("f_per_1k"),
                report.tiers.get(name) or perf.get("tier"),
            )
        )
    return markdown_table(
        ["generator", "status", "weight before", "weight", "change", "posts (window)", "F/1K", "tier"], rows
    )


def _failed_report(account_id: str, error: str) -> OptimizationReport:
    return OptimizationReport(account_id=account_id, dry_run=False, status="failed", detail=error, weights_before={},
                              weights_after={}, statuses={}, changes=[], tiers={}, posts_analysed=0,
                              top_performer=None, bottom_performer=None, evidence_fingerprint="", duration_ms=0.0,
                              error=error)


@dg.asset(
    key=GENERATOR_WEIGHTS,
    group_name="learn",
    pool="warehouse",
    partitions_def=ACCOUNTS,
    backfill_policy=ONE_RUN_PER_ACCOUNT,
    deps=[GENERATOR_PERFORMANCE],
    kinds={"python", "sql"},
    description=(
        "One optimization cycle of each account's generator weights on the learning window's F/1K (seed 004: tiers, "
        "30% steps, 15% exploration, 2% floor, locks kept, sum 1), logged in learn.optimization_events with a "
        "history row per generator. A cycle whose inputs are unchanged since the last one is skipped."
    ),
)
def generator_weights(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, clock: ClockResource
) -> dg.MaterializeResult:
    wh = warehouse.get()
    wh.migrate()
    settings = LearningSettings.from_env()
    optimizer = OptimizerSettings()
    now = clock.now()
    learning, skipped = learning_accounts(context, wh)
    with wh.connect() as conn:
        accounts = mart_accounts(conn, "generator_performance", learning)
    loop = AccountLoop(context, wh, now, "learn/generator_weights")
    reports = []
    for account in accounts:
        report = loop.run(account, lambda account=account: optimize(
            wh, account, now, settings=optimizer, window_days=settings.learning_window_days))
        if report is None:
            report = _failed_report(account, loop.failures[account])
        elif report.status == "failed":  # the optimizer refused the account's data: its weights stay as they were
            loop.fail(account, f"optimizer refused: {report.error}")
        reports.append(report)
    with wh.connect() as conn:
        stored_rows = conn.fetch_df(
            "select account_id, generator_name, posts, f_per_1k, tier from learn.generator_weights"
        )
        rows = int(conn.scalar("select count(*) from learn.generator_weights"))
    metadata: dict = {
        **skipped,
        "dagster/row_count": rows,
        "dagster/relation_identifier": "learn.generator_weights",
        "accounts": len(reports),
        "cycles": dg.MetadataValue.md(
            markdown_table(
                ["account", "outcome", "posts analysed", "changes", "top performer", "bottom performer", "detail"],
                [
                    (
                        r.account_id, r.status, r.posts_analysed, len(r.changes),
                        f"{r.top_performer[0]} ({r.top_performer[1]:.2f})" if r.top_performer else None,
                        f"{r.bottom_performer[0]} ({r.bottom_performer[1]:.2f})" if r.bottom_performer else None,
                        r.detail,
                    )
                    for r in reports
                ],
            )
        ),
        "optimizer window (days)": settings.learning_window_days,
        "floor": optimizer.floor,
        "step": optimizer.step,
        "exploration": optimizer.exploration,
    }
    for r in reports:
        stored = {
            row.generator_name: {"posts": row.posts, "f_per_1k": row.f_per_1k, "tier": row.tier}
            for row in stored_rows[stored_rows["account_id"] == r.account_id].itertuples()
        }
        metadata[f"{r.account_id}: weights"] = dg.MetadataValue.md(_weights_table(r, stored))
    return dg.MaterializeResult(metadata=loop.finish(metadata))


@dg.asset(
    key=GENERATOR_POSTERIOR,
    group_name="learn",
    pool="warehouse",
    partitions_def=ACCOUNTS,
    backfill_policy=ONE_RUN_PER_ACCOUNT,
    deps=[OUTCOMES, GENERATOR_WEIGHTS],
    kinds={"python", "sql"},
    description=(
        "Gamma–Poisson posteriors of each generator's followers per 1000 impressions (prior: the typical tried "
        "generator's F/1K, weighing one average post), with the probability that posterior sampling picks each generator. "
        "Planning uses them for accounts whose generator_policy is 'posterior' (the alternative to the seed's weights)."
    ),
)
def generator_posterior(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, clock: ClockResource
) -> dg.MaterializeResult:
    wh = warehouse.get()
    wh.migrate()
    settings = PosteriorSettings.from_env()
    now = clock.now()
    loop = AccountLoop(context, wh, now, "learn/generator_posterior")
    accounts, skipped = learning_accounts(context, wh)
    by_account = learn_generator_posteriors(wh, now, settings, run=loop.run, only=accounts)
    metadata: dict = {
        **skipped,
        "dagster/row_count": sum(len(f) for f in by_account.values()),
        "dagster/relation_identifier": "learn.generator_posteriors",
        "accounts": len(by_account),
        "half-life (days)": "no decay" if settings.half_life_days is None else settings.half_life_days,
        "prior weight (posts)": settings.prior_posts,
    }
    for account_id, frame in by_account.items():
        chosen = frame["half_life_days"].iloc[0] if len(frame) else None
        metadata[f"{account_id}: half-life (days)"] = "never" if chosen is None or pd.isna(chosen) else float(chosen)
        restarted = frame["forgotten_before"].iloc[0] if len(frame) else None
        if restarted is not None and not pd.isna(restarted):
            metadata[f"{account_id}: change found, evidence before it forgotten"] = str(restarted)
        ordered = frame.sort_values("posterior_mean", ascending=False)
        metadata[f"{account_id}: posteriors"] = dg.MetadataValue.md(
            markdown_table(
                ["generator", "posts", "impressions", "followers", "shape", "rate (per 1k)", "posterior F/1K",
                 "P(sampling picks)"],
                ordered[["generator_name", "posts", "impressions", "followers_gained", "shape", "rate",
                         "posterior_mean", "selection_probability"]].itertuples(index=False, name=None),
            )
        )
    context.log.info(f"generator posteriors for {len(by_account)} accounts")
    return dg.MaterializeResult(metadata=loop.finish(metadata))


LEARN_ASSETS = [bandit_arms, engagement_model, follow_model, generator_weights, generator_posterior, formulas, strategy]


@dg.definitions
def learn_definitions() -> dg.Definitions:
    """The learn group's assets (its checks are in `learn_checks`). A defs module with a @dg.definitions function
    contributes only what that function returns, so the assets are listed here rather than picked up from scope."""
    return dg.Definitions(assets=LEARN_ASSETS)
