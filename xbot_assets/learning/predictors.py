"""The predictors as plain JSON: the engagement model (ridge) and the follow model (Poisson), and predicting from them.

A stored model carries everything needed to predict (medians, scaler, coefficients), and `predict_engagement` /
`predict_follow_probability` compute predictions from that JSON alone — no pickles in a shared store (PRODUCT §5).
They are trained in `engagement_model` and `follow_model` (on `model_fitting`'s pipeline: median imputation →
standardisation → linear model, validated on a time-ordered holdout against a naive baseline, so "beats the baseline"
is a checked fact rather than a claim). The original faked both models with random weights and a made-up R² and
never predicted with them (reference §2.2, §7.1, §7.5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from xbot_assets.learning.features import feature_names
from xbot_assets.warehouse.values import to_python

ENGAGEMENT_MODEL = "engagement_ridge"
FOLLOW_MODEL = "follow_poisson"
LOGISTIC_FOLLOW_MODEL = "follow_logistic"  # the follow model's name before it counted followers (older versions)
SOURCE_LEARNED = "learned"
SOURCE_SEED_DEFAULT = "seed_default"
MIN_SAMPLES = 50  # PREDICTOR_MIN_SAMPLES of the original's intended predictor (reference §2.3)
JSON_SCHEMA_VERSION = 1


@dataclass
class TrainedModel:
    """A linear model in plain values. Coefficients and intercept live in standardised feature space:
    prediction = intercept + Σ coef · (x_imputed − scaler_mean) / scaler_scale (then, for the follow model, P(at
    least m followers) of a Poisson count with that log mean, or the sigmoid of a logistic one).

    `trained` False means the model must not be used; `reason` says why. Seed defaults have source 'seed_default'
    and are usable, but are never presented as learned.
    """

    name: str
    trained: bool
    reason: str
    feature_names: list[str]
    target: str
    coefficients: dict[str, float] = field(default_factory=dict)
    intercept: float | None = None
    scaler_mean: dict[str, float] = field(default_factory=dict)
    scaler_scale: dict[str, float] = field(default_factory=dict)
    imputer_medians: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    hyperparameters: dict[str, float] = field(default_factory=dict)
    n_samples: int = 0
    n_train: int = 0
    n_holdout: int = 0
    window_start: str | None = None
    window_end: str | None = None
    source: str = SOURCE_LEARNED

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types only (str, int, float, bool, None, list, dict); NaN and inf become None."""
        document = _plain(asdict(self))
        document["schema_version"] = JSON_SCHEMA_VERSION
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> TrainedModel:
        version = document.get("schema_version", JSON_SCHEMA_VERSION)
        if version != JSON_SCHEMA_VERSION:
            raise ValueError(f"model JSON schema_version {version} is not supported (expected {JSON_SCHEMA_VERSION})")
        fields = {k: v for k, v in document.items() if k != "schema_version"}
        return cls(**fields)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    value = to_python(value)
    return value.isoformat() if isinstance(value, datetime) else value


def at_least(expected: np.ndarray, min_followers: float) -> np.ndarray:
    """P(N ≥ min_followers) for N ~ Poisson(expected): the regularised lower incomplete gamma P(⌈m⌉, λ)."""
    from scipy.special import gammainc  # here, not at import (as learning/forgetting.py)

    whole = math.ceil(min_followers)
    expected = np.clip(np.asarray(expected, dtype=float), 0.0, None)
    return np.ones_like(expected) if whole <= 0 else gammainc(whole, expected)


# ---------------------------------------------------------------------------------------------------------------------
# Prediction from the JSON alone


def _linear_score(model_json: dict[str, Any], features: pd.DataFrame, expected_name: str) -> np.ndarray:
    name = model_json.get("name")
    if name != expected_name:
        raise ValueError(f"expected a model named {expected_name}, got {name!r}")
    if not (model_json.get("trained") or model_json.get("source") == SOURCE_SEED_DEFAULT):
        raise ValueError(f"{name} is not usable: {model_json.get('reason')}")
    names = list(model_json["feature_names"])
    positions = features.columns.get_indexer(names)
    if (positions < 0).any():
        missing = [n for n, at in zip(names, positions, strict=True) if at < 0]
        raise KeyError(f"features are missing model columns {missing}; build them with feature_frame")

    def vector(key: str) -> np.ndarray:
        return np.array([float(model_json[key][n]) for n in names])

    # by position: selecting the columns by label costs more than the arithmetic for the planner's one-row frames
    x = features.to_numpy(dtype=float)[:, positions]
    x = np.where(np.isnan(x), vector("imputer_medians"), x)
    standardised = (x - vector("scaler_mean")) / vector("scaler_scale")
    return standardised @ vector("coefficients") + float(model_json["intercept"])


def predict_engagement(model_json: dict[str, Any], features: pd.DataFrame) -> np.ndarray:
    """Predicted engagement rate per row of `features` (a feature_frame), clipped to [0, 1]."""
    return np.clip(_linear_score(model_json, features, ENGAGEMENT_MODEL), 0.0, 1.0)


def is_count_model(model_json: dict[str, Any]) -> bool:
    """Whether a follow model counts followers (a trained Poisson regression) rather than scoring a yes/no label."""
    return (model_json.get("name") == FOLLOW_MODEL and bool(model_json.get("trained"))
            and (model_json.get("hyperparameters") or {}).get("family") == "poisson")


def predict_follow_count(model_json: dict[str, Any], features: pd.DataFrame) -> np.ndarray:
    """The followers each post is expected to gain, from a count model (`is_count_model`)."""
    if not is_count_model(model_json):
        raise ValueError(f"{model_json.get('name')!r} is not a trained count model of followers")
    return _expected_count(_linear_score(model_json, features, FOLLOW_MODEL))


def _expected_count(score: np.ndarray) -> np.ndarray:
    return np.exp(np.clip(score, None, 50.0))  # the log link's inverse, held below overflow


def predict_follow_probability(model_json: dict[str, Any], features: pd.DataFrame) -> np.ndarray:
    """Probability that each post wins the follow label (at least `min_followers` followers): from the Poisson
    model's expected count, or (the seed defaults, and versions stored before the count model) a logistic score."""
    hyper = model_json.get("hyperparameters") or {}
    if model_json.get("name") == LOGISTIC_FOLLOW_MODEL:
        model_json = {**model_json, "name": FOLLOW_MODEL}
    score = _linear_score(model_json, features, FOLLOW_MODEL)
    if hyper.get("family") == "poisson":
        return at_least(_expected_count(score), float(hyper.get("min_followers", 1.0)))
    from scipy.special import expit  # here, not at import (as learning/forgetting.py)

    return expit(score)


def raw_unit_coefficients(model_json: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """(intercept, coefficients) per unit of each raw feature, for people to read ("+0.02 ER per quality point").

    Undoes the standardisation: coef_raw = coef / scale, intercept_raw = intercept − Σ coef · mean / scale.
    """
    names = model_json["feature_names"]
    raw = {n: model_json["coefficients"][n] / model_json["scaler_scale"][n] for n in names}
    intercept = model_json["intercept"] - sum(raw[n] * model_json["scaler_mean"][n] for n in names)
    return float(intercept), {n: float(v) for n, v in raw.items()}


# ---------------------------------------------------------------------------------------------------------------------
# Seed defaults

# The original's default coefficients (reference §2.2, predictorTrainer L341-369), mapped onto our features.
# The original's content-type / timing / length defaults used encodings we do not have, so they are 0 here.
SEED_RIDGE_INTERCEPT = 0.01
SEED_RIDGE_COEFFICIENTS = {"quality_score": 0.025}
SEED_LOGISTIC_INTERCEPT = -0.3
SEED_LOGISTIC_COEFFICIENTS = {"novelty_score": 0.25, "expertise_score": 0.20, "viral_score": 0.15}
# What the original substituted for a missing value (predictorTrainer L198-218): quality 0.75, expertise 0.6 for a
# non-expert style, viral 0.5; novelty 0.5 is its no-topic value (its random 0.6–0.8 branch is not copied).
SEED_MISSING_VALUES = {"quality_score": 0.75, "novelty_score": 0.5, "expertise_score": 0.6, "viral_score": 0.5}


def _seed_model(name: str, target: str, names: list[str], intercept: float, coefficients: dict) -> dict[str, Any]:
    return TrainedModel(
        name=name,
        trained=False,
        reason="seed default coefficients, not learned from data",
        feature_names=names,
        target=target,
        coefficients={n: float(coefficients.get(n, 0.0)) for n in names},
        intercept=intercept,
        # mean 0 and scale 1 make the standardised space the raw space, so the seed's raw-unit numbers apply as is.
        scaler_mean=dict.fromkeys(names, 0.0),
        scaler_scale=dict.fromkeys(names, 1.0),
        imputer_medians={n: SEED_MISSING_VALUES.get(n, 0.0) for n in names},
        metrics={},  # the original's R² .65 / accuracy .72 were never measured; no metrics is the honest value
        source=SOURCE_SEED_DEFAULT,
    ).to_json()


def seed_default_models(content_types: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ridge JSON, logistic JSON) with the seed's default coefficients, flagged source='seed_default'."""
    names = feature_names(content_types)
    ridge = _seed_model(ENGAGEMENT_MODEL, "engagement_rate", names, SEED_RIDGE_INTERCEPT, SEED_RIDGE_COEFFICIENTS)
    logistic = _seed_model(
        FOLLOW_MODEL, "follow_label", names, SEED_LOGISTIC_INTERCEPT, SEED_LOGISTIC_COEFFICIENTS
    )
    return ridge, logistic
