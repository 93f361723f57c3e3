"""The feature vector both predictors use (seed 000, PRODUCT §5).

quality_score, a one-hot of the content type, the posting hour as a point on the clock (sin/cos, so 23h and 0h are
neighbours) and as a one-hot (hour effects are spiky — a lunch or evening peak — which one smooth cycle cannot fit:
measured on the hidden_gem loop, holdout R² 0.53 with sin/cos alone, 0.77 with the one-hot, truth's ceiling 0.81),
thread vs single, and the novelty / expertise / viral scores; and, where a model is given them, one-hots of the
choices the planner makes per post beside the content type — the generator, the topic arm and the hook type
(`CHOICE_PREFIXES`). Missing values stay NaN here: the model imputes them with the training median, never with
invented numbers (the original filled novelty with random values, reference §7.1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

SCORE_COLUMNS = ["novelty_score", "expertise_score", "viral_score"]
HOUR_COLUMNS = [f"hour_{h:02d}" for h in range(24)]
# The planner's per-post choices a model may read, as one-hots named prefix + value ("generator_dataNerd",
# "topic_sleep", "hook_question"). A stored model's feature names say which values it knows (`choices_in`).
CHOICE_PREFIXES = {"generator_name": "generator_", "topic_arm": "topic_", "hook": "hook_"}
Choices = dict[str, list[str]]


def content_type_column(content_type: str) -> str:
    return f"ct_{content_type}"


def choice_values(df: pd.DataFrame) -> Choices:
    """The values of each choice column in `df` (sorted; missing values and absent columns give none)."""
    return {column: sorted(df[column].dropna().astype(str).unique().tolist()) if column in df.columns else []
            for column in CHOICE_PREFIXES}


def choices_in(names: Sequence[str]) -> Choices:
    """The choice values a list of feature names holds one-hots for (the inverse of feature_names' choice block)."""
    return {column: [n.removeprefix(prefix) for n in names if n.startswith(prefix)]
            for column, prefix in CHOICE_PREFIXES.items()}


def feature_names(content_types: Sequence[str], choices: Choices | None = None) -> list[str]:
    """Feature column order: fixed, so a stored model and a fresh frame always line up by name."""
    one_hot = [content_type_column(t) for t in dict.fromkeys(content_types)]
    chosen = [CHOICE_PREFIXES[column] + value for column, values in (choices or {}).items()
              for value in dict.fromkeys(values)]
    return ["quality_score", *one_hot, "hour_sin", "hour_cos", *HOUR_COLUMNS, "is_thread", *SCORE_COLUMNS, *chosen]


def _is_thread(df: pd.DataFrame) -> np.ndarray:
    """1.0 for a thread, 0.0 otherwise: an explicit is_thread flag wins; decision_type fills the rows where the flag
    is missing (and is 0 where both are)."""
    if "is_thread" not in df.columns and "decision_type" not in df.columns:
        raise KeyError("feature_frame needs an is_thread or a decision_type column")
    flag = (df["is_thread"].astype("float64").to_numpy() if "is_thread" in df.columns
            else np.full(len(df), np.nan))
    if "decision_type" in df.columns:
        kind = df["decision_type"].to_numpy(dtype=object)
        from_type = np.where(pd.isna(kind), np.nan, (kind == "thread").astype(float))
        flag = np.where(np.isnan(flag), from_type, flag)
    return np.nan_to_num(flag, nan=0.0)


def feature_frame(df: pd.DataFrame, content_types: Sequence[str], choices: Choices | None = None) -> pd.DataFrame:
    """Model features from columns quality_score, content_type, posted_hour, is_thread (or decision_type) and,
    when available, novelty_score, expertise_score, viral_score (0–1 scales). Keeps `df`'s index.

    A content type outside `content_types` gets all-zero one-hot columns, and so does a choice outside `choices` (or
    a missing choice: a post with no topic is none of the topics). A score column that does not exist yet is
    all NaN (imputed at training time), so the feature set never changes shape with upstream availability.
    """
    # Built as arrays and framed once: inserting ~40 columns one by one cost ~10 ms a call, and the planner scores
    # every candidate through here (twice).
    hours = pd.to_numeric(df["posted_hour"]).to_numpy(dtype=float)
    known_hour = ~np.isnan(hours)
    content = df["content_type"].to_numpy(dtype=object)
    columns: dict[str, np.ndarray] = {
        "quality_score": pd.to_numeric(df["quality_score"], errors="raise").to_numpy(dtype=float),
        **{content_type_column(t): (content == t).astype(float) for t in dict.fromkeys(content_types)},
        "hour_sin": np.sin(2.0 * np.pi * hours / 24.0),
        "hour_cos": np.cos(2.0 * np.pi * hours / 24.0),
        **{column: np.where(known_hour, (hours == h).astype(float), np.nan) for h, column in enumerate(HOUR_COLUMNS)},
        "is_thread": _is_thread(df),
        **{column: pd.to_numeric(df[column]).to_numpy(dtype=float) if column in df.columns
           else np.full(len(df), np.nan) for column in SCORE_COLUMNS},
    }
    for column, values in (choices or {}).items():
        chosen = df[column].to_numpy(dtype=object) if column in df.columns else np.full(len(df), None)
        columns.update({CHOICE_PREFIXES[column] + v: (chosen == v).astype(float) for v in values})
    names = feature_names(content_types, choices)
    # one float matrix framed once: a frame from a dict of ~60 arrays checks each array (~1 ms a planner call)
    matrix = np.column_stack([np.broadcast_to(np.asarray(columns[name], dtype=float), len(df)) for name in names])
    return pd.DataFrame(matrix.reshape(len(df), len(names)), columns=names, index=df.index)


def features_for_models(df: pd.DataFrame, documents: Sequence[dict], content_types: Sequence[str] = ()) -> pd.DataFrame:
    """The features with every column the stored models `documents` read, built once for all of them: their content
    types and `content_types`, their choice values. Each model reads its own columns by name, so one trained on
    other content types, generators, topics or hooks still lines up."""
    names = [n for document in documents for n in document.get("feature_names") or []]
    model_types = [n.removeprefix("ct_") for n in names if n.startswith("ct_")]
    return feature_frame(df, list(dict.fromkeys([*model_types, *content_types])), choices_in(names))
