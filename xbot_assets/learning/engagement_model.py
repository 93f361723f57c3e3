"""The engagement model: a ridge regression of each post's engagement rate on the features (learning/features.py).

Weighted by impressions (the noise of a rate), optionally by recency, with the penalty chosen on every fit by
leave-one-out error; the planner's choices (generator, topic, hook) are read only where they lower the error on the
newest training rows. Served from its JSON by `predictors.predict_engagement`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from xbot_assets.learning.content_arms import recency_weights
from xbot_assets.learning.features import Choices, feature_names
from xbot_assets.learning.model_fitting import (
    Split,
    fit,
    fit_on_every_row,
    fitted_model,
    number_or_none,
    time_ordered_split,
    too_few,
    untrained,
)
from xbot_assets.learning.predictors import ENGAGEMENT_MODEL, MIN_SAMPLES, TrainedModel

# The ridge penalties the engagement model chooses from on every fit, by its leave-one-out error (scikit-learn's
# RidgeCV, efficient generalised cross-validation): 0.1 to ~3,000 in 19 steps. Replayed day by day on four kept
# 60-day logs, a penalty chosen per fit forecast the next day's posts better on average than any one fixed value
# (pooled R² over the eight accounts 0.471 vs 0.444 for alpha 10, both with 48-hour labels): the noisy accounts,
# whose choices barely move engagement, take large penalties, topic_hook's small ones.
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-1, 3.5, 19))


def _ridge(alpha: float | None):
    """A ridge with the penalty `alpha`, or (None) one that picks it from RIDGE_ALPHAS by leave-one-out error."""
    from sklearn.linear_model import Ridge, RidgeCV

    return RidgeCV(alphas=RIDGE_ALPHAS) if alpha is None else Ridge(alpha=alpha)


def _choices_help_ridge(split: Split, base_names: list[str], alpha: float | None,
                        validation_fraction: float) -> dict:
    """Whether the choice one-hots lower the ridge's squared error on the newest part of the training rows, fitted on
    the older part (the holdout stays untouched, so the reported metrics are still out of sample). On ~100 rows 27
    more one-hots overfit where the choices do not move engagement (measured: holdout R² 0.57 → 0.36 on a hidden_gem
    log) and help where they do (−0.13 → 0.72 on topic_hook logs): the data decides, per account and training."""
    n_train = len(split.y_train)
    n_validate = max(1, round(n_train * validation_fraction))
    if n_train - n_validate < 2:
        return {"choice_features": False, "inner_mse_base": None, "inner_mse_choices": None}
    fit_x, fit_y = split.x_train.iloc[: n_train - n_validate], split.y_train[: n_train - n_validate]
    fit_w = None if split.w_train is None else split.w_train[: n_train - n_validate]
    check_x, check_y = split.x_train.iloc[n_train - n_validate:], split.y_train[n_train - n_validate:]

    def mse(columns: list[str]) -> float:
        model = fit(_ridge(alpha), fit_x[columns], fit_y, fit_w)
        return float(np.mean((np.clip(model.predict(check_x[columns]), 0.0, 1.0) - check_y) ** 2))

    base, with_choices = mse(base_names), mse(list(split.x_train.columns))
    return {"choice_features": with_choices < base, "inner_mse_base": base, "inner_mse_choices": with_choices}


def _recency_from_newest(posted_at: pd.Series, half_life_days: float) -> pd.Series:
    """`content_arms.recency_weights` with the ages counted back from the newest `posted_at`; NaN where it is missing
    (such a row is not usable for training anyway)."""
    known = posted_at.notna()
    weights = pd.Series(np.nan, index=posted_at.index)
    if known.any():
        times = pd.to_datetime(posted_at[known])
        weights[known] = recency_weights(times, times.max(), half_life_days)
    return weights


def train_engagement_model(
    training: pd.DataFrame,
    content_types: Sequence[str],
    *,
    choices: Choices | None = None,
    min_samples: int = MIN_SAMPLES,
    alpha: float | None = None,
    holdout_fraction: float = 0.2,
    validation_fraction: float = 0.25,
    half_life_days: float | None = None,
) -> TrainedModel:
    """Ridge regression of engagement_rate on the features, validated on the newest `holdout_fraction` of posts.

    Rows need engagement_rate and posted_at. With `choices` (the generator, topic arm and hook values to one-hot),
    the model reads them only when they lower the error on the newest `validation_fraction` of the training rows
    (`_choices_help_ridge`); the metrics say which was chosen and both errors. Metrics on the holdout: r2, mae (of
    predictions clipped to [0, 1], as served), and the same for the baseline that predicts the training mean;
    beats_baseline compares MAE (always defined, unlike R² on a constant holdout). The metrics are those of the fit
    on the older rows; the stored model is then fitted on every row (`fit_on_every_row`), so they estimate how the
    procedure does on posts it has not seen. The penalty: `alpha`, or by default chosen on every fit by
    leave-one-out error from RIDGE_ALPHAS (hyperparameters `alpha`: the served fit's; `alpha_by_loo`: 1).

    When `training` has an `impressions` column, every fit weighs a post by its impressions (hyperparameter
    `weighted_by_impressions`: 1) and a post without impressions is left out: a post's engagement rate is a share of
    its impressions, so its noise variance is ~ER(1 − ER)/impressions, and weighted least squares is the fit that
    matches that noise. Replayed day by day on one 60-day log per shipped scenario (each day's posts forecast by
    the model fitted that morning on its 30-day window), the weighted fit raised the next-day R² as a share of its
    ceiling on all 8 learning accounts: mean 0.669 → 0.743 (default's posterior account 0.42 → 0.62; a log-scale
    ridge or a Poisson GLM, weighted alike, did no better on the mean and lost up to 0.11 on some accounts).

    With `half_life_days`, every fit also weighs a post by 0.5 ** (its age / half-life), the age counted back from
    the newest training row (so the same rows give the same fit whenever it runs; hyperparameter `half_life_days`):
    older posts still inform the hours and content types the recent ones did not try, and the newest weigh most
    (`recency_weights`).
    """
    names = feature_names(content_types, choices)
    weighted = "impressions" in training.columns
    hyper = {"alpha_by_loo": float(alpha is None), "holdout_fraction": float(holdout_fraction),
             "min_samples": int(min_samples), "weighted_by_impressions": float(weighted)}
    if alpha is not None:
        hyper["alpha"] = float(alpha)
    target = pd.to_numeric(training["engagement_rate"]).astype(float)
    weights = pd.to_numeric(training["impressions"]).astype(float) if weighted else None
    if half_life_days is not None:
        hyper["half_life_days"] = float(half_life_days)
        recency = _recency_from_newest(training["posted_at"], half_life_days)
        weights = recency if weights is None else weights * recency
    split = time_ordered_split(training, content_types, target, holdout_fraction, choices, weights)
    if (reason := too_few(split.n_samples, min_samples)) is not None:
        return untrained(ENGAGEMENT_MODEL, "engagement_rate", reason, names, split, hyper)

    from sklearn.metrics import mean_absolute_error, r2_score

    selection: dict[str, Any] = {}
    if len(names) > len(base := feature_names(content_types)):
        hyper["validation_fraction"] = float(validation_fraction)
        selection = _choices_help_ridge(split, base, alpha, validation_fraction)
        if not selection["choice_features"]:
            names = base
            split.x_train, split.x_holdout = split.x_train[base], split.x_holdout[base]
    pipeline = fit(_ridge(alpha), split.x_train, split.y_train, split.w_train)
    predicted = np.clip(pipeline.predict(split.x_holdout), 0.0, 1.0)
    train_mean = float(split.y_train.mean())
    baseline = np.full(len(split.y_holdout), train_mean)
    mae = float(mean_absolute_error(split.y_holdout, predicted))
    baseline_mae = float(mean_absolute_error(split.y_holdout, baseline))

    def r2(prediction: np.ndarray) -> float | None:
        # R² is undefined with fewer than two holdout points or a constant holdout target.
        if len(split.y_holdout) < 2:
            return None
        return number_or_none(r2_score(split.y_holdout, prediction, force_finite=False))

    metrics = {
        "r2": r2(predicted),
        "mae": mae,
        "baseline_r2": r2(baseline),
        "baseline_mae": baseline_mae,
        "baseline_prediction": train_mean,
        "beats_baseline": mae < baseline_mae,
        **selection,
    }
    reason = f"trained on {len(split.y_train)} older samples, validated on {len(split.y_holdout)} newer"
    if selection:
        reason += ("; reads the generator, topic and hook" if selection["choice_features"] else
                   "; leaves out the generator, topic and hook (they did not lower the error on newer training rows)")
    reason += f"; serves the fit on all {split.n_samples}"
    served = fit_on_every_row(_ridge(alpha), split)
    hyper["alpha"] = float(served.named_steps["model"].alpha_ if alpha is None else alpha)
    return fitted_model(ENGAGEMENT_MODEL, "engagement_rate", reason, names, served, split, metrics, hyper)

