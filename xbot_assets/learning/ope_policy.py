"""Off-policy evaluation of the planner's choices: which choices can be evaluated, the target policies, the direct
method, and the F/1K and engagement-rate estimates of one target from one account's logged posts.

What the planner logs (acting/planner.py): for every post the probability its policy gave the choice it made —

- the content type, by Thompson sampling over the content arms: stochastic, `content_propensity` is the Monte Carlo
  probability of the drawn arm (the static policy: uniform, 1/types);
- the generator, by the weights (the weight is the probability) or by posterior sampling (the Monte Carlo probability
  of the drawn generator): stochastic, `generator_propensity`;
- the hour, by UCB1: deterministic up to ties (`timing_propensity` 1, or 1/tied hours). A deterministic choice has no
  other action in the logs to reweight towards, so hours are never evaluated: every target keeps the logged hours.

So the evaluated action is the pair (content type, generator), with logging propensity content × generator. A target
gives a distribution over generators and one over content types; a dimension it leaves out (None) is the logging
policy's own choice, whose ratio π/p is 1 (its probability cancels), and whose expectation in DR is the logged draw.

The posted post is the first of up to three attempts a slot's gates accepted; its propensity is that attempt's. A gate
that rejects some (content type, generator) pairs more than others makes the posted mix differ from the drawn one;
the estimators ignore that (the same for every target), which is why their validation runs on the simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xbot_assets.learning.features import feature_frame
from xbot_assets.learning.ope import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_LEVEL,
    MIN_LOGGED_ROWS,
    AdditiveActionMeans,
    OffPolicyRefused,
    RewardColumn,
    checked_distribution,
    checked_propensities,
    estimate_policy_value,
    importance_weights,
    require_rows,
    require_support,
)
from xbot_assets.learning.predictors import predict_engagement

# The choices a target may change: dimension -> (raw.posts column of the action, of its logged propensity).
DIMENSIONS = {"content_types": ("content_type", "content_propensity"),
              "generators": ("generator_name", "generator_propensity")}
ACTION_COLUMNS = [column for column, _ in DIMENSIONS.values()]
F_PER_1K_SCALE = 1000.0

Predictor = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class TargetPolicy:
    """A distribution over generators and one over content types; None keeps the logging policy's own choice."""

    name: str
    generators: Mapping[str, float] | None = None
    content_types: Mapping[str, float] | None = None
    description: str = ""

    def distribution(self, dimension: str) -> dict[str, float] | None:
        probs = getattr(self, dimension)
        return None if probs is None else checked_distribution(probs, dimension.replace("_", " "))


def uniform_over(names) -> dict[str, float]:
    names = sorted(set(names))
    return {n: 1.0 / len(names) for n in names}


@dataclass
class LoggedWeights:
    weights: np.ndarray
    evaluated: list[str] = field(default_factory=list)  # the dimensions the target changes


def logged_weights(logged: pd.DataFrame, target: TargetPolicy) -> LoggedWeights:
    """w_i = Π over the dimensions the target sets of π(a_i) / p(a_i); refuses unsupported targets and bad
    propensities of the dimensions that enter the weight."""
    pi, p, evaluated = np.ones(len(logged)), np.ones(len(logged)), []
    for dimension, (action_column, propensity_column) in DIMENSIONS.items():
        probs = target.distribution(dimension)
        if probs is None:
            continue
        evaluated.append(dimension)
        require_support(probs, logged[action_column].astype(str), dimension.removesuffix("s").replace("_", " "))
        propensity = checked_propensities(logged[propensity_column], propensity_column)
        if len(propensity) and np.all(propensity >= 1.0) and logged[action_column].nunique() > 1:
            # Propensity 1 on every post while the choices differ: a deterministic rule (e.g. a fixed rotation)
            # chose them, so no post says what another choice in its place would have earned.
            raise OffPolicyRefused(f"every logged {propensity_column} is 1: the {dimension.replace('_', ' ')} were "
                                   f"chosen deterministically, so a target that changes them cannot be evaluated")
        p *= propensity
        pi *= logged[action_column].astype(str).map(lambda a, probs=probs: probs.get(a, 0.0)).to_numpy(dtype=float)
    return LoggedWeights(importance_weights(pi, p), evaluated)


def action_grid(logged: pd.DataFrame, target: TargetPolicy) -> pd.DataFrame:
    """Every logged row once per action the target could take there, with `target_probability` and `row` (the
    logged row's position): a dimension the target leaves out keeps the logged value with probability 1."""
    grid = pd.DataFrame({"row": np.arange(len(logged)), "target_probability": 1.0})
    for dimension, (column, _) in DIMENSIONS.items():
        probs = target.distribution(dimension)
        if probs is None:
            grid[column] = logged[column].astype(str).to_numpy()[grid["row"]]
            continue
        options = pd.DataFrame({column: list(probs), "p": list(probs.values())})
        grid = grid.merge(options[options["p"] > 0], how="cross")
        grid["target_probability"] *= grid.pop("p")
    context = logged.reset_index(drop=True).drop(columns=ACTION_COLUMNS)
    return grid.join(context, on="row").sort_values("row", kind="stable").reset_index(drop=True)


def direct_method(logged: pd.DataFrame, grid: pd.DataFrame, predict: Predictor) -> tuple[np.ndarray, np.ndarray]:
    """(q̂ of each logged action, q̂ expected under the target per row)."""
    expected = pd.Series(grid["target_probability"].to_numpy() * predict(grid)).groupby(grid["row"].to_numpy()).sum()
    return predict(logged.reset_index(drop=True)), expected.reindex(range(len(logged)), fill_value=0.0).to_numpy()


def empirical_predictor(logged: pd.DataFrame, value_column: str) -> Predictor:
    """Per-action empirical means of a column (AdditiveActionMeans over content type and generator)."""
    means = AdditiveActionMeans.fit(logged[ACTION_COLUMNS], logged[value_column])

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return np.array([means.predict(content_type=c, generator_name=g)
                         for c, g in zip(frame["content_type"], frame["generator_name"], strict=True)])
    return predict


def engagement_model_predictor(model_json: dict, logged: pd.DataFrame) -> Predictor:
    """The account's engagement model on the logged context with the action's content type. A content type's thread
    flag is what its logged posts mostly were (the model has a thread feature); the text's scores stay the logged
    post's, since the text a different choice would have written is unknown. The model has no generator feature."""
    names = list(model_json.get("feature_names") or [])
    model_types = [n[3:] for n in names if n.startswith("ct_")]
    thread_share = pd.to_numeric(logged["is_thread"], errors="coerce").groupby(logged["content_type"]).mean()

    def predict(frame: pd.DataFrame) -> np.ndarray:
        rows = frame.copy()
        is_thread = rows["content_type"].map(thread_share).fillna(0.0) >= 0.5
        rows["is_thread"] = is_thread.astype(float)
        rows["decision_type"] = np.where(is_thread, "thread", "single")
        types = list(dict.fromkeys([*model_types, *rows["content_type"].astype(str)]))
        return predict_engagement(model_json, feature_frame(rows, types))
    return predict


def hour_note(logged: pd.DataFrame) -> str:
    p = pd.to_numeric(logged["timing_propensity"], errors="coerce")
    certain = int((p >= 1.0 - 1e-9).sum())
    ties = f"; the other {len(logged) - certain} were ties broken at random" if certain < len(logged) else ""
    return (f"hour: UCB1, deterministic (propensity 1 on {certain} of {len(logged)} posts{ties}): not evaluated, "
            f"every target keeps the logged hours")


def evaluate_target(
    logged: pd.DataFrame,
    target: TargetPolicy,
    *,
    engagement_model: dict | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    min_rows: int = MIN_LOGGED_ROWS,
) -> dict:
    """The target's F/1K and engagement rate by IPW, SNIPW and DR against the logged policy's own, with intervals,
    the effective sample size and notes saying what was evaluated and which direct method was used.

    `logged` has one row per posted decision with its outcome: content_type, generator_name, content_propensity,
    generator_propensity, timing_propensity, followers_gained, impressions (> 0), engagement_rate and the model
    features. F/1K is a ratio: followers per post over impressions per post, each estimated the same way (× 1000)."""
    require_rows(len(logged), min_rows)
    weighted = logged_weights(logged, target)
    if not weighted.evaluated:
        raise OffPolicyRefused("the target changes neither the generators nor the content types: it is the logging "
                               "policy itself")
    grid = action_grid(logged, target)

    def column(value_column: str, predict: Predictor) -> RewardColumn:
        dm_logged, dm_target = direct_method(logged, grid, predict)
        return RewardColumn.of(logged[value_column], dm_logged, dm_target)

    followers = column("followers_gained", empirical_predictor(logged, "followers_gained"))
    impressions = column("impressions", empirical_predictor(logged, "impressions"))
    if engagement_model is not None:
        er_predict, er_method = engagement_model_predictor(engagement_model, logged), "the account's engagement model"
    else:
        er_predict, er_method = empirical_predictor(logged, "engagement_rate"), "per-action empirical means"
    options = {"bootstrap": bootstrap, "seed": seed, "level": level, "min_rows": min_rows}
    f_per_1k = estimate_policy_value(weighted.weights, followers, impressions, scale=F_PER_1K_SCALE, **options)
    engagement = estimate_policy_value(weighted.weights, column("engagement_rate", er_predict), **options)
    return {
        "target": target.name,
        "target_description": target.description,
        "posts": len(logged),
        "evaluated": [d.replace("_", " ") for d in weighted.evaluated],
        "effective_sample_size": f_per_1k.effective_sample_size,
        "f_per_1k": f_per_1k.to_json(),
        "engagement_rate": engagement.to_json(),
        "direct_method": {
            "f_per_1k": "per-action empirical means of followers and of impressions per post (the follow model "
                        "predicts P(a follower), not followers per impression, and has no generator feature)",
            "engagement_rate": er_method,
        },
        "notes": [
            "action: content type × generator, logging propensity content_propensity × generator_propensity",
            *[f"{d.replace('_', ' ')}: the logging policy's own choice (ratio 1)" for d in DIMENSIONS
              if d not in weighted.evaluated],
            hour_note(logged),
            "F/1K: estimated followers per post / estimated impressions per post × 1000 (for IPW and SNIPW this "
            "ratio is the same number)",
        ],
    }

