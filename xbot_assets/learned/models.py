"""The engagement and follow models: the training frame from `analytics.training_set`, training, and the
versioned registry `learn.model_registry` (a version is added only when its training data's fingerprint changed)."""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pandas as pd

from xbot_assets.learned.store import (
    AccountRunner,
    LearningSettings,
    canonical,
    fingerprint,
    frame_rows,
    json_dumps,
    mart_accounts,
    run_directly,
    timestamp_or_none,
)
from xbot_assets.learning.engagement_model import train_engagement_model
from xbot_assets.learning.features import choice_values
from xbot_assets.learning.follow_model import train_follow_model
from xbot_assets.learning.label_maturity import settled_engagement_rates
from xbot_assets.learning.predictors import ENGAGEMENT_MODEL, FOLLOW_MODEL, JSON_SCHEMA_VERSION, TrainedModel
from xbot_assets.warehouse.connection import Connection, Warehouse
from xbot_assets.warehouse.values import to_python

MODEL_NAMES = (ENGAGEMENT_MODEL, FOLLOW_MODEL)
# Which holdout metric each model is judged by, whether lower is better, and its baseline's name in the metrics.
PRIMARY_METRIC = {ENGAGEMENT_MODEL: ("mae", "baseline_mae"), FOLLOW_MODEL: ("brier", "baseline_brier")}
MODEL_TYPE = {ENGAGEMENT_MODEL: "ridge", FOLLOW_MODEL: "poisson"}


# Models

TRAINING_COLUMNS = (
    "decision_id", "posted_at", "content_type", "posted_hour", "decision_type", "is_thread", "quality_score",
    "novelty_score", "expertise_score", "viral_score", "engagement_rate", "followers_gained", "follow_label",
    "generator_name", "topic_arm", "hook", "impressions",
)
REGISTRY_COLUMNS = (
    "account_id", "model_name", "version", "model_type", "target", "model_json", "feature_names", "metrics",
    "primary_metric", "primary_value", "baseline_value", "beats_baseline", "n_samples", "n_train", "n_holdout",
    "window_start", "window_end", "data_fingerprint", "created_at",
)


@dataclass
class ModelOutcome:
    """What one training attempt did for one account."""

    account_id: str
    model_name: str
    status: str  # 'registered' (a new version), 'unchanged' (same data as the newest version), 'not_trained'
    reason: str
    version: int | None  # the version now in use (new or existing); None when the account has none
    data_fingerprint: str
    n_samples: int
    n_train: int = 0
    n_holdout: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    beats_baseline: bool | None = None
    window_start: str | None = None
    window_end: str | None = None


def _model_window(now: datetime, settings: LearningSettings) -> tuple[str, list[datetime]]:
    """The SQL condition (and its parameter) of posts in the model window before `now`; none without a window."""
    if settings.model_window_days is None:
        return "", []
    return " and posted_at > ?", [now - timedelta(days=settings.model_window_days)]


def training_frame(conn: Connection, account_id: str, now: datetime, settings: LearningSettings,
                   min_age_hours: float | None = None) -> pd.DataFrame:
    """The account's gated outcomes posted in the model window by `now` whose counters are at least
    `min_age_hours` (default: settings.model_min_age_hours) old, with TRAINING_COLUMNS and age_hours."""
    window, since = _model_window(now, settings)
    frame = conn.fetch_df(
        f"select {', '.join(TRAINING_COLUMNS)}, age_hours from analytics.training_set "
        f"where account_id = ? and posted_at <= ? and age_hours >= ?{window} order by posted_at, decision_id",
        [account_id, now, settings.model_min_age_hours if min_age_hours is None else min_age_hours, *since],
    )
    # fetch_df gives numbers as int64/float64 with NaN and booleans as bool (object with None when one is missing):
    # the models read floats throughout, NaN for unknown.
    for column in ("quality_score", "novelty_score", "expertise_score", "viral_score", "engagement_rate",
                   "followers_gained", "posted_hour", "impressions", "age_hours"):
        frame[column] = frame[column].astype(float)
    for column in ("is_thread", "follow_label"):
        frame[column] = frame[column].map(lambda v: None if v is None else float(v)).astype(float)
    return frame


def engagement_training_frame(conn: Connection, account_id: str, now: datetime,
                              settings: LearningSettings) -> pd.DataFrame:
    """`training_frame` with the posts from settings.engagement_min_age_hours old as well: a post younger than
    settings.model_min_age_hours has its engagement rate brought to the value it settles at by the development
    factors of the account's settled posts (`label_maturity`, read from analytics.post_metrics_by_age as collected
    by `now`); a young post without a factor is left out, as before. Column `settled_by_factor` marks the young."""
    settled_age = settings.model_min_age_hours
    young_age = min(settings.engagement_min_age_hours, settled_age)
    frame = training_frame(conn, account_id, now, settings, min_age_hours=young_age)
    young = (frame["age_hours"] < settled_age).to_numpy()
    frame["settled_by_factor"] = young
    if not young.any():
        return frame
    window, since = _model_window(now, settings)
    snapshots = conn.fetch_df(
        "select decision_id, age_hours, impressions, engagements from analytics.post_metrics_by_age "
        f"where account_id = ? and collected_at <= ?{window}", [account_id, now, *since])
    frame.loc[young, "engagement_rate"] = settled_engagement_rates(frame.loc[young], snapshots, settled_age)
    return frame[~young | frame["engagement_rate"].notna().to_numpy()].reset_index(drop=True)


def _trainer(model_name: str, settings: LearningSettings):
    if model_name != ENGAGEMENT_MODEL:
        return partial(train_follow_model, min_followers=settings.follow_min_followers)
    return partial(train_engagement_model, half_life_days=settings.engagement_half_life_days)


# A post 6 half-lives old weighs 1/64 of a new one: the engagement model with a half-life reads no further back.
HALF_LIVES_READ = 6
# The follow model reads at least this many days, unweighted (the engagement model's reach at its default half-life).
# A post wins a handful of followers, so the counts need many posts: replaying one kept 60-day log per scenario, all
# 60 days instead of the 30-day window raised the AUC share of the ceiling by 0.11 and 0.18 on hidden_gem's and
# topic_hook's posterior accounts and moved the other six by at most ±0.04 (mean 0.856 → 0.890; drift's included).
FOLLOW_WINDOW_DAYS = 84


def model_settings(model_name: str, settings: LearningSettings) -> LearningSettings:
    """`settings` with the window `model_name` trains on: the engagement model with a half-life reads at least
    HALF_LIVES_READ half-lives back (its recency weights, not the window, make the older posts count less), the
    follow model at least FOLLOW_WINDOW_DAYS."""
    if settings.model_window_days is None:
        return settings
    if model_name == ENGAGEMENT_MODEL:
        half_life = settings.engagement_half_life_days
        reach = settings.model_window_days if half_life is None else math.ceil(HALF_LIVES_READ * half_life)
    else:
        reach = FOLLOW_WINDOW_DAYS
    return replace(settings, model_window_days=max(settings.model_window_days, reach))


def newest_registry_row(conn: Connection, account_id: str, model_name: str) -> dict[str, Any] | None:
    row = conn.fetchone(
        f"select {', '.join(REGISTRY_COLUMNS)} from learn.model_registry where account_id = ? and model_name = ? "
        "order by version desc limit 1",
        [account_id, model_name],
    )
    return dict(zip(REGISTRY_COLUMNS, row, strict=True)) if row else None


def learn_model(
    conn: Connection, account_id: str, model_name: str, now: datetime, settings: LearningSettings
) -> ModelOutcome:
    """Train `model_name` for one account and register it if its training data changed since the newest version."""
    settings = model_settings(model_name, settings)
    frame = (engagement_training_frame if model_name == ENGAGEMENT_MODEL else training_frame)(
        conn, account_id, now, settings)
    content_types = sorted(frame["content_type"].dropna().astype(str).unique().tolist())
    trainer = _trainer(model_name, settings)
    # The hyperparameters are the trainers' defaults, except the minimum sample count and the engagement model's
    # half-life (settings).
    data_fp = fingerprint(
        {
            "model": model_name,
            "schema_version": JSON_SCHEMA_VERSION,
            "content_types": content_types,
            "min_samples": settings.min_training_samples,
            "window_days": settings.model_window_days,
            "min_age_hours": settings.model_min_age_hours,
            "choices": settings.model_choices,
            "columns": list(TRAINING_COLUMNS),
            "rows": frame_rows(frame, TRAINING_COLUMNS),
            # the engagement model's recency weights change its fit, not its rows (absent for the follow model,
            # whose fingerprints stay as they were)
            **({"half_life_days": settings.engagement_half_life_days,
                "young_from_hours": settings.engagement_min_age_hours} if model_name == ENGAGEMENT_MODEL else {}),
        }
    )
    newest = newest_registry_row(conn, account_id, model_name)
    if newest is not None and newest["data_fingerprint"] == data_fp:
        metrics = json.loads(newest["metrics"])
        return ModelOutcome(
            account_id, model_name, "unchanged", f"training data unchanged since v{newest['version']}",
            int(newest["version"]), data_fp, int(newest["n_samples"]), int(newest["n_train"]),
            int(newest["n_holdout"]), metrics, newest["beats_baseline"],
            canonical(newest["window_start"]), canonical(newest["window_end"]),
        )

    model: TrainedModel = trainer(frame, content_types,
                                  choices=choice_values(frame) if settings.model_choices else None,
                                  min_samples=settings.min_training_samples)
    if model.trained and model_name == ENGAGEMENT_MODEL:
        model.metrics["young_posts"] = int(frame["settled_by_factor"].sum())
    if not model.trained:
        in_use = int(newest["version"]) if newest is not None else None
        fallback = f"planning keeps v{in_use}" if in_use is not None else "planning uses the seed defaults"
        return ModelOutcome(
            account_id, model_name, "not_trained", f"{model.reason}; {fallback}", in_use, data_fp, model.n_samples,
            model.n_train, model.n_holdout, window_start=model.window_start, window_end=model.window_end,
        )

    version = (int(newest["version"]) if newest is not None else 0) + 1
    document = model.to_json()
    metric, baseline = PRIMARY_METRIC[model_name]
    beats = document["metrics"].get("beats_baseline")
    conn.insert_rows(
        "learn.model_registry",
        REGISTRY_COLUMNS,
        [[
            account_id, model_name, version, MODEL_TYPE[model_name], model.target, json_dumps(document),
            json_dumps(document["feature_names"]), json_dumps(document["metrics"]), metric,
            to_python(document["metrics"].get(metric)), to_python(document["metrics"].get(baseline)),
            None if beats is None else bool(beats), model.n_samples, model.n_train, model.n_holdout,
            timestamp_or_none(model.window_start), timestamp_or_none(model.window_end), data_fp, now,
        ]],
    )
    return ModelOutcome(
        account_id, model_name, "registered", model.reason, version, data_fp, model.n_samples, model.n_train,
        model.n_holdout, document["metrics"], beats, model.window_start, model.window_end,
    )


def learn_models(
    warehouse: Warehouse, model_name: str, now: datetime, settings: LearningSettings | None = None,
    run: AccountRunner = run_directly, only: Collection[str] | None = None,
) -> list[ModelOutcome]:
    """Train and register every account's model, one transaction per account (through `run`: a failed account keeps
    its registered versions and the others are trained)."""
    settings = settings or LearningSettings.from_env()
    with warehouse.connect() as conn:
        accounts = mart_accounts(conn, "outcomes", only)

    def learn(account_id: str) -> ModelOutcome:
        with warehouse.connect() as conn:
            return learn_model(conn, account_id, model_name, now, settings)

    outcomes = [run(a, lambda a=a: learn(a)) for a in accounts]
    return [o for o in outcomes if o is not None]


def gate_counts(conn: Connection) -> pd.DataFrame:
    """Per account: posted outcomes, how many pass the learning gate, and the gated-out ones by reason."""
    return conn.fetch_df(
        """
        select account_id,
               case when passes_learning_gate then 'passes the gate'
                    when gate_reason like 'too young%' then 'too young'
                    when gate_reason like 'too little signal%' then 'too little signal'
                    else gate_reason end as gate,
               count(*) as posts
        from analytics.outcomes
        group by 1, 2
        order by 1, 2
        """
    )


def latest_models(conn: Connection, model_name: str | None = None) -> list[dict[str, Any]]:
    """The newest registered version of each (account, model)."""
    rows = conn.fetch_df(
        f"select {', '.join(REGISTRY_COLUMNS)} from learn.model_registry order by account_id, model_name, version"
    )
    if model_name is not None:
        rows = rows[rows["model_name"] == model_name]
    newest = rows.groupby(["account_id", "model_name"], sort=True).tail(1)
    return [
        {c: to_python(v) for c, v in zip(REGISTRY_COLUMNS, row, strict=True)}
        for row in newest.itertuples(index=False, name=None)
    ]
