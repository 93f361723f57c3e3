"""`xbot evaluate --ope`: the off-policy estimators checked against the simulator's truth.

The behaviour policy is the `weights` account (learning on, generators by the optimized weights: every generator
keeps a floor weight, so every one the target may pick is logged with a positive propensity). The target is the
static account's policy: the seed's generator weights and, where the scenario gives topics or hooks effects, the
static account's topics (the niche's, uniformly) and hook types (uniformly); content types and hours stay the
behaviour's own. The static account ran on the same random numbers slot by slot, so its true F/1K is the target's
value run for real: in the simulator a post's followers per impression depend on its generator, day, topic arm and
hook type alone (hours and threads scale impressions and follows alike), so the static account's other choices do not
change it, and on a scenario without topic or hook effects neither do its topics and hooks (evaluating them there
would only add variance).

Three truths, each with its own use:
- `true_value`: the static run's F/1K, Σ follows / Σ impressions × 1000 — the number the evaluation's `f_per_1k`
  shows for `static`, what the target earned when it ran. It ran on the same random numbers, so a post slot whose
  audience was generous to the behaviour's post was generous to the static post too: the truth shares the logs'
  luck, as a counterfactual on the same audience would.
- `policy_value`: the target's expected F/1K on the static run's slots, Σ I_i Σ_g π(g) λ_g(day_i) · E_π[topic
  multiplier] · E_π[hook multiplier] / Σ I_i — V(π), the value an estimator estimates, without any draw: neither the
  static run's generator choices nor anyone's follows. A confidence interval is a statement about it.
- `true_value_on_logged_slots`: the same on the behaviour's own posts.
`logged_follows_vs_expected`, Σ w·follows / Σ w·expected follows − 1 over the logged posts with the target's
importance weights w, says how lucky the logs were where the target looks: the estimators see only the follows drawn,
so a seed whose weighted follows fell 10 % short of their expectation is estimated about that much low, by every
estimator alike — low against `policy_value`, much less against `true_value`, which drew from the same audience.
`logged_follows_z` is the same in standard deviations of the Poisson draws.

The reward is each post's own follows as the platform counts them (what X's per-post analytics report): the
attributed followers in the warehouse share every gain, organic growth included, among the live posts, so an
estimate on them would measure attribution, not the estimator. Everything else — the posts past the learning gate,
their actions and propensities, impressions, engagement — is read from the warehouse as `xbot ope` reads it.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from xbot_assets.acting.generators.offline import TOPICS
from xbot_assets.evaluation.closed_loop import realized_f_per_1k
from xbot_assets.ingest.hooks import HOOK_TYPES
from xbot_assets.learned.ope_data import learned_models, read_logged_posts
from xbot_assets.learning.generator_weights import DEFAULT_WEIGHTS
from xbot_assets.learning.ope import DEFAULT_LEVEL, OffPolicyRefused, TooFewEffectivePosts
from xbot_assets.learning.ope_policy import TargetPolicy, evaluate_target, logged_actions, logged_weights, uniform_over
from xbot_assets.simulation.scenario import Scenario
from xbot_assets.warehouse.connection import Warehouse

BEHAVIOUR, TARGET = "weights", "static"
VALIDATION_BOOTSTRAP = 500


def static_target(scenario: Scenario) -> TargetPolicy:
    """The static account's policy as a target: generators by the seed's weights; topics (the offline niche's, as the
    evaluation's accounts have no profile) and hook types uniformly, where the scenario gives them effects."""
    names = [g for g in DEFAULT_WEIGHTS if g in scenario.generators]
    total = sum(DEFAULT_WEIGHTS[g] for g in names)
    topics = uniform_over(t[0] for t in TOPICS) if scenario.topic_effects else None
    hooks = uniform_over(HOOK_TYPES) if scenario.hook_effects else None
    chosen = ["generators by the seed's weights", *(["topics uniformly"] if topics else []),
              *(["hook types uniformly"] if hooks else [])]
    return TargetPolicy("static", generators={g: DEFAULT_WEIGHTS[g] / total for g in names}, topics=topics,
                        hooks=hooks, description=f"{', '.join(chosen)} (the static policy's)")


def target_on_slots(scenario: Scenario, target: TargetPolicy, posts: pd.DataFrame) -> float:
    """The target's true F/1K on the given posts' days and impressions; a dimension the target leaves out keeps each
    post's own topic or hook multiplier."""
    probs = target.distribution("generators") or {}
    per_day = {d: sum(p * scenario.truth_at(int(d)).generators[g] for g, p in probs.items())
               for d in posts["day"].unique()}
    value = posts["day"].map(per_day).to_numpy(dtype=float)
    for dimension, column, effect in (("topics", "topic_arm", scenario.topic_effect),
                                      ("hooks", "hook", scenario.hook_effect)):
        chosen = target.distribution(dimension)
        if chosen is not None:
            value = value * sum(p * effect(a, "follows") for a, p in chosen.items())
        elif column in posts.columns:
            value = value * posts[column].map(lambda a, effect=effect: effect(a, "follows")).to_numpy(dtype=float)
    impressions = posts["impressions"].to_numpy(dtype=float)
    return float((value * impressions).sum() / impressions.sum())


def follows_vs_expected(weights, follows, expected_follows) -> float:
    """Σ w·follows / Σ w·expected follows − 1: how far the follows drawn fell from their expectation, weighed as the
    target weighs the posts."""
    w = np.asarray(weights, dtype=float)
    return float(np.sum(w * np.asarray(follows, dtype=float)) / np.sum(w * np.asarray(expected_follows, dtype=float))
                 - 1.0)


def follows_draw_z(weights, follows, expected_follows) -> float:
    """Σ w·(follows − expected) / √(Σ w²·expected): the same draws in standard deviations — a post's follows are
    Poisson, so their variance is their expectation. About N(0, 1) over seeds; an interval as wide as the draws make
    the estimate vary misses the seeds where this is beyond about ±1.6."""
    w = np.asarray(weights, dtype=float)
    expected = np.asarray(expected_follows, dtype=float)
    return float(np.sum(w * (np.asarray(follows, dtype=float) - expected)) / np.sqrt(np.sum(w * w * expected)))


def validate_ope(warehouse: Warehouse, scenario: Scenario, behaviour_posts: pd.DataFrame,
                 target_posts: pd.DataFrame, behaviour_account: str, days: int, end: datetime,
                 bootstrap: int = VALIDATION_BOOTSTRAP, seed: int = 0, level: float = DEFAULT_LEVEL) -> dict:
    """{behaviour, target, true_value, policy_value, estimates: {ipw|snipw|dr: {value, ci_low, ci_high}}, ...} for one
    seed (DR's error and whether its interval covers, against each truth), or the reason the logs could not support an
    estimate (`refused`)."""
    target = static_target(scenario)
    out: dict = {"behaviour": BEHAVIOUR, "target": TARGET, "target_description": target.description,
                 "reward": "each post's own follows as the platform counts them",
                 "true_value": realized_f_per_1k(target_posts)}
    with warehouse.connect(read_only=True) as conn:
        logged = read_logged_posts(conn, behaviour_account, days + 1, end).frame
    platform = behaviour_posts.set_index("decision_id")
    logged = logged[logged["decision_id"].isin(platform.index)].reset_index(drop=True)
    known = platform.loc[logged["decision_id"]]
    logged["followers_gained"] = known["follows"].to_numpy(dtype=float)
    logged["impressions"] = known["impressions"].to_numpy(dtype=float)
    out["true_value_on_logged_slots"] = target_on_slots(scenario, target, known) if len(known) else None
    out["policy_value"] = target_on_slots(scenario, target, target_posts) if len(target_posts) else None
    try:
        models = learned_models(warehouse, behaviour_account)
        result = evaluate_target(logged, target, engagement_model=models.engagement, follow_model=models.follow,
                                 bootstrap=bootstrap, seed=seed, level=level)
    except TooFewEffectivePosts as exc:
        return {**out, "refused": str(exc), "effective_sample_size": exc.effective_sample_size}
    except OffPolicyRefused as exc:
        return {**out, "refused": str(exc)}
    estimates = result["f_per_1k"]["estimates"]
    weights = logged_weights(logged_actions(logged), target).weights
    out["logged_follows_vs_expected"] = follows_vs_expected(weights, known["follows"], known["expected_follows"])
    out["logged_follows_z"] = follows_draw_z(weights, known["follows"], known["expected_follows"])
    dr = estimates["dr"]
    error, covers = dr_against(dr, out["true_value"])
    error_vs_value, covers_value = dr_against(dr, out["policy_value"])
    return {**out, "observed": result["f_per_1k"]["observed"], "posts": result["posts"],
            "effective_sample_size": result["effective_sample_size"], "level": level, "estimates": estimates,
            "dr_relative_error": error, "dr_covers_truth": covers,
            "dr_relative_error_vs_policy_value": error_vs_value, "dr_covers_policy_value": covers_value}


def dr_against(dr: dict, value: float | None) -> tuple[float | None, bool | None]:
    """DR's relative error against `value` (None for no value or zero) and whether its interval covers it."""
    if value is None:
        return None, None
    return (dr["value"] / value - 1.0 if value else None), bool(dr["ci_low"] <= value <= dr["ci_high"])


def summarize(per_seed: list[dict]) -> dict:
    """Means over the seeds that could be estimated, the DR's mean absolute relative error and its coverage (of the
    run's F/1K and of the policy value); the refused seeds' reasons (and effective sample sizes, where the weights
    were the reason) beside them."""
    done = [v for v in per_seed if "estimates" in v]
    refused = [{"reason": v["refused"], **({"effective_sample_size": v["effective_sample_size"]}
                                         if "effective_sample_size" in v else {})}
               for v in per_seed if "refused" in v]
    if not done:
        return {**(per_seed[0] if per_seed else {}), "seeds_estimated": 0, "seeds_refused": len(refused),
                "refusals": refused}

    def mean(values) -> float | None:
        known = [v for v in values if v is not None]
        return float(np.mean(known)) if known else None

    def mean_abs(key: str) -> float | None:
        return mean([abs(v[key]) for v in done if v[key] is not None])

    def share(key: str) -> float | None:
        return mean([float(v[key]) for v in done if v[key] is not None])

    estimates = {name: {k: mean([v["estimates"][name][k] for v in done]) for k in ("value", "ci_low", "ci_high")}
                 for name in done[0]["estimates"]}
    return {
        "behaviour": BEHAVIOUR, "target": TARGET, "target_description": done[0]["target_description"],
        "reward": done[0]["reward"], "true_value": mean([v["true_value"] for v in done]),
        "policy_value": mean([v["policy_value"] for v in done]),
        "true_value_on_logged_slots": mean([v["true_value_on_logged_slots"] for v in done]),
        "observed": mean([v["observed"] for v in done]), "estimates": estimates,
        "effective_sample_size": mean([v["effective_sample_size"] for v in done]), "level": done[0]["level"],
        "dr_mean_abs_relative_error": mean_abs("dr_relative_error"),
        "dr_coverage": share("dr_covers_truth"),
        "dr_mean_abs_relative_error_vs_policy_value": mean_abs("dr_relative_error_vs_policy_value"),
        "dr_coverage_of_policy_value": share("dr_covers_policy_value"),
        "logged_follows_vs_expected": [v["logged_follows_vs_expected"] for v in done],
        "logged_follows_z": [v["logged_follows_z"] for v in done],
        "seeds_estimated": len(done), "seeds_refused": len(refused), "refusals": refused,
    }
