"""The learn group: bandit arms, the engagement and follow models, and the generator weights, with their checks.

Each asset reads the analytics marts, calls the pure learning code through `xbot_assets.learned`, writes the
`learn.*` tables through the warehouse resource and returns a MaterializeResult whose metadata a person can read in
the UI (markdown tables of arms, models next to their baselines, weights, sample and gate counts). Every account in
the marts is learned separately.

Settings (environment, read when an asset runs): XBOT_MIN_TRAINING_SAMPLES (50), XBOT_UCB_C (1.0),
XBOT_ARM_HALF_LIFE_DAYS (unset = no decay), XBOT_LEARNING_WINDOW_DAYS (7, the optimizer's window; keep it equal to
the dbt var learning_window_days), XBOT_MODEL_WINDOW_DAYS (30; 0 = all history).

Redis: set XBOT_REDIS_URL (e.g. redis://localhost:6379/0) and the model assets also publish the newest models as
JSON (`predictor:v2:latest` plus versioned keys). Leave it unset and nothing is published: planning then reads the
models from the warehouse registry (`xbot_assets.learned.load_models` reports which source it used).
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at definition time.

import os

import dagster as dg

from xbot_assets import learned
from xbot_assets.defs.resources import ClockResource, WarehouseResource
from xbot_assets.learning.generator_weights import OptimizerSettings
from xbot_assets.learning.predictors import ENGAGEMENT_MODEL, FOLLOW_MODEL

REDIS_ENV = "XBOT_REDIS_URL"

OUTCOMES = dg.AssetKey(["analytics", "outcomes"])
TRAINING_SET = dg.AssetKey(["analytics", "training_set"])
GENERATOR_PERFORMANCE = dg.AssetKey(["analytics", "generator_performance"])

BANDIT_ARMS = dg.AssetKey(["learn", "bandit_arms"])
ENGAGEMENT = dg.AssetKey(["learn", "engagement_model"])
FOLLOW = dg.AssetKey(["learn", "follow_model"])
GENERATOR_WEIGHTS = dg.AssetKey(["learn", "generator_weights"])
GENERATOR_POSTERIOR = dg.AssetKey(["learn", "generator_posterior"])


class RedisResource(dg.ConfigurableResource):
    """Where the newest models are published for planning. `url` None (XBOT_REDIS_URL unset) means no Redis:
    nothing is published and planning reads the warehouse registry. `key_prefix` namespaces the keys (tests, or
    several deployments sharing one Redis)."""

    url: str | None = None
    key_prefix: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.url)


def _settings_metadata(settings: learned.LearningSettings) -> dict:
    return {
        "min training samples": settings.min_training_samples,
        "UCB c": settings.ucb_c,
        "arm half-life (days)": "no decay" if settings.arm_half_life_days is None else settings.arm_half_life_days,
        "optimizer window (days)": settings.learning_window_days,
        "model window (days)": "all history" if settings.model_window_days is None else settings.model_window_days,
        "model min post age (hours)": settings.model_min_age_hours,
    }


# ---------------------------------------------------------------------------------------------------------------------
# Bandit arms


@dg.asset(
    key=BANDIT_ARMS,
    group_name="learn",
    pool="warehouse",
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
    settings = learned.LearningSettings.from_env()
    now = clock.now()
    arms_by_account = learned.learn_bandit_arms(wh, now, settings)
    metadata: dict = {
        "dagster/row_count": sum(len(a) for a in arms_by_account.values()),
        "dagster/relation_identifier": "learn.bandit_arms",
        "accounts": len(arms_by_account),
        "as of": now.isoformat(sep=" "),
        **_settings_metadata(settings),
    }
    for account_id, arms in arms_by_account.items():
        content = arms[arms["scope"] == "content"]
        timing = arms[(arms["scope"] == "timing") & (arms["plays"] > 0)]
        metadata[f"{account_id}: content arms"] = dg.MetadataValue.md(
            learned.markdown_table(
                ["arm", "plays", "successes", "failures", "α", "β", "mean ER", "posterior mean", "P(Thompson picks)"],
                content[
                    ["arm_name", "plays", "successes", "failures", "alpha", "beta", "mean_reward", "posterior_mean",
                     "selection_probability"]
                ].itertuples(index=False, name=None),
            )
        )
        unplayed = int((arms[arms["scope"] == "timing"]["plays"] == 0).sum())
        metadata[f"{account_id}: timing arms"] = dg.MetadataValue.md(
            learned.markdown_table(
                ["hour", "plays", "mean ER", "UCB1 index", "P(UCB picks)"],
                timing[["arm_value", "plays", "mean_reward", "ucb_index", "selection_probability"]].itertuples(
                    index=False, name=None
                ),
            )
            + f"\n\n{unplayed} of 24 hours never played (UCB1 tries those first)."
        )
        metadata[f"{account_id}: outcomes counted"] = int(content["plays"].sum())
    context.log.info(f"bandit arms for {len(arms_by_account)} accounts")
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(
    asset=bandit_arms,
    pool="warehouse",
    description="Every arm's plays (and, without decay, successes/failures) equal the counts in analytics.outcomes.",
)
def arm_counts_match_outcomes(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get().connect() as conn:
        problems = learned.arm_count_mismatches(conn)
        arms = conn.scalar("select count(*) from learn.bandit_arms")
    return dg.AssetCheckResult(
        passed=not problems,
        description=(
            f"{len(problems)} arms disagree with analytics.outcomes" if problems
            else f"all {arms} arms agree with analytics.outcomes"
        ),
        metadata={
            "arms checked": int(arms),
            "mismatches": len(problems),
            "details": dg.MetadataValue.md(
                learned.markdown_table(
                    ["account", "arm", "problem"], [(p["account_id"], p["arm_name"], p["problem"]) for p in problems]
                )
                if problems
                else "all arms agree with analytics.outcomes"
            ),
        },
    )


# ---------------------------------------------------------------------------------------------------------------------
# Models

_MODEL_COLUMNS = {
    ENGAGEMENT_MODEL: [("mae", "MAE"), ("baseline_mae", "baseline MAE"), ("r2", "R²"), ("baseline_r2", "baseline R²")],
    FOLLOW_MODEL: [
        ("brier", "Brier"), ("baseline_brier", "baseline Brier"), ("auc", "AUC"), ("baseline_auc", "baseline AUC"),
        ("accuracy", "accuracy"), ("baseline_accuracy", "baseline accuracy"), ("precision", "precision"),
        ("recall", "recall"),
    ],
}


def _gate_table(conn) -> tuple[str, dict]:
    counts = learned.gate_counts(conn)
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
    return learned.markdown_table(["account", "posted", *gates], rows), totals


def _publish(context, wh, redis: RedisResource, now) -> str:
    if not redis.configured:
        return f"not published: {REDIS_ENV} is not set (planning reads the warehouse registry)"
    report = learned.publish_models(wh, redis.url, now, redis.key_prefix)
    context.log.info(f"published {len(report.keys_written)} Redis keys")
    versioned = len(report.keys_written) - 1
    return f"published {report.latest_key} and {versioned} versioned keys ({len(report.accounts)} accounts)"


def _model_asset(model_name: str, key: dg.AssetKey, description: str):
    @dg.asset(
        key=key,
        group_name="learn",
        pool="warehouse",
        deps=[TRAINING_SET, OUTCOMES],
        kinds={"python", "scikitlearn"},
        description=description,
    )
    def model_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, clock: ClockResource, redis: RedisResource
    ) -> dg.MaterializeResult:
        wh = warehouse.get()
        wh.migrate()
        settings = learned.LearningSettings.from_env()
        now = clock.now()
        outcomes = learned.learn_models(wh, model_name, now, settings)
        with wh.connect() as conn:
            gate_md, gate_totals = _gate_table(conn)
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
            "dagster/row_count": int(versions),
            "dagster/relation_identifier": "learn.model_registry",
            "models": dg.MetadataValue.md(
                learned.markdown_table(
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
        return dg.MaterializeResult(metadata=metadata)

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
    "Logistic regression of 'gained followers' on the post features, per account, validated on a time-ordered "
    "holdout (Brier, AUC, accuracy, precision, recall next to the base-rate baseline).",
)


def _baseline_check(model_name: str, asset, check_name: str):
    metric_name, baseline_name = learned.PRIMARY_METRIC[model_name]

    @dg.asset_check(
        asset=asset,
        name=check_name,
        pool="warehouse",
        description=(
            f"The newest {model_name} of every account beats its baseline on the holdout ({metric_name} vs "
            f"{baseline_name}, lower is better). A model that loses is flagged with WARN severity, not hidden."
        ),
    )
    def check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.get().connect() as conn:
            rows = learned.latest_models(conn, model_name)
        losing = [r for r in rows if r["beats_baseline"] is not True]
        table = learned.markdown_table(
            ["account", "version", metric_name, baseline_name, "beats baseline", "samples", "trained on"],
            [
                (
                    r["account_id"], f"v{r['version']}", r["primary_value"], r["baseline_value"],
                    "yes" if r["beats_baseline"] else "NO", r["n_samples"],
                    f"{r['window_start']} … {r['window_end']}",
                )
                for r in rows
            ],
        )
        return dg.AssetCheckResult(
            passed=not losing,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                f"{len(losing)} of {len(rows)} accounts' models lose to their baseline: "
                + ", ".join(r["account_id"] for r in losing)
                if losing
                else f"all {len(rows)} models beat their baseline"
                if rows
                else "no trained model yet (defaults in use)"
            ),
            metadata={
                "models": dg.MetadataValue.md(table if rows else "no trained model registered"),
                "models checked": len(rows),
                "losing to baseline": len(losing),
            },
        )

    return check


engagement_model_beats_baseline = _baseline_check(ENGAGEMENT_MODEL, engagement_model, "engagement_model_beats_baseline")
follow_model_beats_baseline = _baseline_check(FOLLOW_MODEL, follow_model, "follow_model_beats_baseline")


# ---------------------------------------------------------------------------------------------------------------------
# Generator weights


def _weights_table(report: learned.OptimizationReport, stored: dict) -> str:
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
    return learned.markdown_table(
        ["generator", "status", "weight before", "weight", "change", "posts (window)", "F/1K", "tier"], rows
    )


@dg.asset(
    key=GENERATOR_WEIGHTS,
    group_name="learn",
    pool="warehouse",
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
    settings = learned.LearningSettings.from_env()
    optimizer = OptimizerSettings()
    now = clock.now()
    with wh.connect() as conn:
        accounts = learned.mart_accounts(conn, "generator_performance")
    reports = [
        learned.optimize(wh, account, now, settings=optimizer, window_days=settings.learning_window_days)
        for account in accounts
    ]
    with wh.connect() as conn:
        stored_rows = conn.fetch_df(
            "select account_id, generator_name, posts, f_per_1k, tier from learn.generator_weights"
        )
        rows = int(conn.scalar("select count(*) from learn.generator_weights"))
    metadata: dict = {
        "dagster/row_count": rows,
        "dagster/relation_identifier": "learn.generator_weights",
        "accounts": len(reports),
        "cycles": dg.MetadataValue.md(
            learned.markdown_table(
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
    failed = [r for r in reports if r.status == "failed"]
    if failed:
        raise dg.Failure(
            description="generator weight optimization failed for "
            + "; ".join(f"{r.account_id}: {r.error}" for r in failed),
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=GENERATOR_POSTERIOR,
    group_name="learn",
    pool="warehouse",
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
    settings = learned.PosteriorSettings.from_env()
    now = clock.now()
    by_account = learned.learn_generator_posteriors(wh, now, settings)
    metadata: dict = {
        "dagster/row_count": sum(len(f) for f in by_account.values()),
        "dagster/relation_identifier": "learn.generator_posteriors",
        "accounts": len(by_account),
        "half-life (days)": "no decay" if settings.half_life_days is None else settings.half_life_days,
        "prior weight (posts)": settings.prior_posts,
    }
    for account_id, frame in by_account.items():
        ordered = frame.sort_values("posterior_mean", ascending=False)
        metadata[f"{account_id}: posteriors"] = dg.MetadataValue.md(
            learned.markdown_table(
                ["generator", "posts", "impressions", "followers", "shape", "rate (per 1k)", "posterior F/1K",
                 "P(sampling picks)"],
                ordered[["generator_name", "posts", "impressions", "followers_gained", "shape", "rate",
                         "posterior_mean", "selection_probability"]].itertuples(index=False, name=None),
            )
        )
    context.log.info(f"generator posteriors for {len(by_account)} accounts")
    return dg.MaterializeResult(metadata=metadata)


def _problems_result(problems: list[str], ok: str, **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not problems,
        description="; ".join(problems[:10]) if problems else ok,
        metadata={"problems": len(problems), **metadata},
    )


@dg.asset_check(asset=generator_weights, pool="warehouse", description="Each account's weights sum to 1 within 1e-9.")
def weights_sum_to_one(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get().connect() as conn:
        problems = learned.weight_sum_problems(conn)
        sums = conn.fetchall(
            "select account_id, sum(weight) from learn.generator_weights group by account_id order by account_id"
        )
    return _problems_result(
        problems,
        "every account's weights sum to 1",
        sums=dg.MetadataValue.md(learned.markdown_table(["account", "Σ weight", "|Σ − 1|"],
                                                        [(a, f"{s:.12f}", f"{abs(s - 1):.1e}") for a, s in sums])),
    )


@dg.asset_check(
    asset=generator_weights, pool="warehouse", description="No active or locked generator is below the floor (2%)."
)
def weights_above_floor(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    floor = OptimizerSettings().floor
    with warehouse.get().connect() as conn:
        problems = learned.floor_problems(conn, floor)
        lowest = conn.scalar("select min(weight) from learn.generator_weights where status <> 'disabled'")
    return _problems_result(
        problems, f"every generator holds at least {floor}", floor=floor,
        lowest_weight=float(lowest) if lowest is not None else None,
    )


@dg.asset_check(
    asset=generator_weights,
    pool="warehouse",
    description="Locked generators keep the weight they were locked at; no optimization cycle moved a locked weight.",
)
def locked_weights_unchanged(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get().connect() as conn:
        problems = learned.locked_weight_problems(conn)
        locked = int(conn.scalar("select count(*) from learn.generator_weights where status = 'locked'"))
    return _problems_result(problems, f"{locked} locked generators, all unchanged", locked_generators=locked)


LEARN_ASSETS = [bandit_arms, engagement_model, follow_model, generator_weights, generator_posterior]
LEARN_CHECKS = [
    arm_counts_match_outcomes,
    engagement_model_beats_baseline,
    follow_model_beats_baseline,
    weights_sum_to_one,
    weights_above_floor,
    locked_weights_unchanged,
]


@dg.definitions
def learn_definitions() -> dg.Definitions:
    """The learn group and the `redis` resource. (A defs module with a @dg.definitions function contributes only what
    that function returns, so the assets and checks are listed here rather than picked up from module scope.)"""
    # An EnvVar only when the variable is set: an EnvVar that is unset fails the run, and unset must mean "no Redis".
    redis = RedisResource(url=dg.EnvVar(REDIS_ENV)) if os.environ.get(REDIS_ENV) else RedisResource()
    return dg.Definitions(
        assets=LEARN_ASSETS,
        asset_checks=LEARN_CHECKS,
        resources={"redis": redis},
    )
