"""Every model version scored on the posts published while it was the one in use (a prequential, forward score).

A model's own holdout is the newest fifth of its training window: in a 60-day evaluation ~20 posts, a handful of
them followed, so one AUC moves by ±0.3 from seed to seed. Here each post is predicted by the version the planner had
when the post went out (the newest version registered at or before its `posted_at`), which never saw the post or
anything after it, and the score pools every such post of the run: ~200 posts an account instead of ~20. The
ceiling is the truth's score on the same posts (the simulator's expected ER; for follows, its expected followers).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

import numpy as np
import pandas as pd

from xbot_assets.learned.models import training_frame
from xbot_assets.learned.store import LearningSettings
from xbot_assets.learning.features import features_for_models
from xbot_assets.learning.predictors import ENGAGEMENT_MODEL, predict_engagement, predict_follow_probability
from xbot_assets.warehouse.connection import Connection


def history_frame(conn: Connection, account_id: str, end: datetime, settings: LearningSettings) -> pd.DataFrame:
    """The account's posts with an outcome by `end`, in the models' training columns: every day's, not one window's."""
    return training_frame(conn, account_id, end, replace(settings, model_window_days=None))


def forward_predictions(conn: Connection, account_id: str, model_name: str, history: pd.DataFrame) -> pd.DataFrame:
    """`history` (`history_frame`) with `prediction`: what the version of `model_name` in use when each post was
    published predicted for it (NaN before the first version), and `version`."""
    frame = history.copy()
    versions = conn.fetch_df(
        "select version, model_json, created_at from learn.model_registry where account_id = ? and model_name = ? "
        "order by created_at, version", [account_id, model_name])
    frame["version"], frame["prediction"] = np.nan, np.nan
    if frame.empty or versions.empty:
        return frame
    created = pd.to_datetime(versions["created_at"]).to_numpy()
    in_use = np.searchsorted(created, pd.to_datetime(frame["posted_at"]).to_numpy(), side="right") - 1
    predict = predict_engagement if model_name == ENGAGEMENT_MODEL else predict_follow_probability
    for position in np.unique(in_use[in_use >= 0]):
        rows = frame[in_use == position]
        document = json.loads(versions["model_json"].iloc[position])
        frame.loc[rows.index, "version"] = int(versions["version"].iloc[position])
        frame.loc[rows.index, "prediction"] = predict(document, features_for_models(rows, [document]))
    return frame


def r2_score(y: np.ndarray, prediction: np.ndarray) -> float | None:
    if len(y) < 2 or np.var(y) == 0:
        return None
    return float(1.0 - np.sum((y - prediction) ** 2) / np.sum((y - np.mean(y)) ** 2))


def auc_score(labels: np.ndarray, scores: np.ndarray) -> float | None:
    if len(np.unique(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def forward_scores(predictions: pd.DataFrame, target: str, truth: pd.Series, score) -> dict[str, float | None]:
    """`score` (r2_score or auc_score) of the forward predictions and of `truth` (by decision_id) on the posts that
    have both an outcome and a prediction, and how many posts that is."""
    known = predictions[predictions[target].notna() & predictions["prediction"].notna()
                        & predictions["decision_id"].isin(truth.index)]
    y = known[target].to_numpy(float)
    return {"forward": score(y, known["prediction"].to_numpy(float)),
            "forward_ceiling": score(y, truth.loc[known["decision_id"]].to_numpy(float)),
            "forward_posts": len(known)}
