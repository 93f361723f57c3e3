"""The learn group's asset checks: arm counts against the outcomes, models against their baselines (WARN), and the
generator weights' invariants (sum to 1, floor, locks). Each reads the learned tables through `learned.checks` or
`learned.models`, independently of the code that wrote them."""

# No `from __future__ import annotations` here: Dagster inspects the annotations at definition time.

import dagster as dg

from xbot_assets.defs.learn import BANDIT_ARMS, ENGAGEMENT, FOLLOW, GENERATOR_WEIGHTS
from xbot_assets.defs.metadata import markdown_table
from xbot_assets.defs.resources import WarehouseResource
from xbot_assets.learned.checks import arm_count_mismatches, floor_problems, locked_weight_problems, weight_sum_problems
from xbot_assets.learned.models import PRIMARY_METRIC, latest_models
from xbot_assets.learning.generator_weights import FIXED, OptimizerSettings
from xbot_assets.learning.predictors import ENGAGEMENT_MODEL, FOLLOW_MODEL


@dg.asset_check(
    asset=BANDIT_ARMS,
    pool="warehouse",
    description="Every arm's plays (and, without decay, successes/failures) equal the counts in analytics.outcomes.",
)
def arm_counts_match_outcomes(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get().connect() as conn:
        problems = arm_count_mismatches(conn)
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
                markdown_table(
                    ["account", "arm", "problem"], [(p["account_id"], p["arm_name"], p["problem"]) for p in problems]
                )
                if problems
                else "all arms agree with analytics.outcomes"
            ),
        },
    )


def _baseline_check(model_name: str, asset: dg.AssetKey, check_name: str):
    metric_name, baseline_name = PRIMARY_METRIC[model_name]

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
            rows = latest_models(conn, model_name)
        losing = [r for r in rows if r["beats_baseline"] is not True]
        table = markdown_table(
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


engagement_model_beats_baseline = _baseline_check(ENGAGEMENT_MODEL, ENGAGEMENT, "engagement_model_beats_baseline")
follow_model_beats_baseline = _baseline_check(FOLLOW_MODEL, FOLLOW, "follow_model_beats_baseline")


def _problems_result(problems: list[str], ok: str, **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not problems,
        description="; ".join(problems[:10]) if problems else ok,
        metadata={"problems": len(problems), **metadata},
    )


@dg.asset_check(asset=GENERATOR_WEIGHTS, pool="warehouse", description="Each account's weights sum to 1 within 1e-9.")
def weights_sum_to_one(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get().connect() as conn:
        problems = weight_sum_problems(conn)
        sums = conn.fetchall(
            "select account_id, sum(weight) from learn.generator_weights group by account_id order by account_id"
        )
    return _problems_result(
        problems,
        "every account's weights sum to 1",
        sums=dg.MetadataValue.md(markdown_table(["account", "Σ weight", "|Σ − 1|"],
                                                        [(a, f"{s:.12f}", f"{abs(s - 1):.1e}") for a, s in sums])),
    )


@dg.asset_check(
    asset=GENERATOR_WEIGHTS, pool="warehouse", description="No active or locked generator is below the floor (2%)."
)
def weights_above_floor(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    floor = OptimizerSettings().floor
    with warehouse.get().connect() as conn:
        problems = floor_problems(conn, floor)
        lowest = conn.scalar("select min(weight) from learn.generator_weights where status <> 'disabled'")
    return _problems_result(
        problems, f"every generator holds at least {floor}", floor=floor,
        lowest_weight=float(lowest) if lowest is not None else None,
    )


@dg.asset_check(
    asset=GENERATOR_WEIGHTS,
    pool="warehouse",
    description="Locked generators keep the weight they were locked at; no optimization cycle moved a locked weight.",
)
def locked_weights_unchanged(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get().connect() as conn:
        problems = locked_weight_problems(conn)
        locked = int(conn.scalar("select count(*) from learn.generator_weights where status in (?, ?)", list(FIXED)))
    return _problems_result(problems, f"{locked} locked or pinned generators, all unchanged",
                            locked_generators=locked)


LEARN_CHECKS = [
    arm_counts_match_outcomes,
    engagement_model_beats_baseline,
    follow_model_beats_baseline,
    weights_sum_to_one,
    weights_above_floor,
    locked_weights_unchanged,
]


@dg.definitions
def learn_check_definitions() -> dg.Definitions:
    return dg.Definitions(asset_checks=LEARN_CHECKS)
