"""What `xbot ope` reads: an account's logged decisions with their outcomes, the target policies built from its
learned state, and its engagement and follow models; then `learning.ope_policy` estimates.

Logged decisions are the account's posts in `analytics.outcomes` that passed the learning gate (their outcome is
final enough to learn from), posted in the window, made by a generator (imported history was chosen by no policy of
ours and has no propensities), with impressions, an engagement rate and followers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from xbot_assets.learned.serving import load_models
from xbot_assets.learning.generator_weights import NOT_GENERATORS
from xbot_assets.learning.ope import DEFAULT_BOOTSTRAP, DEFAULT_LEVEL, MIN_EFFECTIVE_POSTS, OffPolicyRefused
from xbot_assets.learning.ope_policy import TargetPolicy, evaluate_target, uniform_over
from xbot_assets.learning.predictors import ENGAGEMENT_MODEL, FOLLOW_MODEL, SOURCE_SEED_DEFAULT
from xbot_assets.warehouse.connection import Connection, Warehouse

LOGGED_COLUMNS = (
    "decision_id", "posted_at", "source", "content_type", "generator_name", "content_propensity",
    "generator_propensity", "timing_propensity", "impressions", "engagement_rate", "followers_gained",
    "followers_reported", "quality_score", "posted_hour", "is_thread", "decision_type", "novelty_score",
    "expertise_score", "viral_score", "topic_arm", "topic_source", "topic_propensity", "hook", "hook_propensity",
)
NAMED_TARGETS = ("weights", "posterior", "uniform")
FILE_KEYS = {"generators", "content_types", "topics", "hooks"}


@dataclass
class LoggedPosts:
    frame: pd.DataFrame
    window_start: datetime
    window_end: datetime
    excluded: dict[str, int] = field(default_factory=dict)  # why a gated post of the window is not a logged decision


def read_logged_posts(conn: Connection, account_id: str, days: int, as_of: datetime | None) -> LoggedPosts:
    """The window is (as_of − days, as_of]; as_of defaults to the account's newest gated post, so a simulated or
    imported history is judged at its own time, not at the wall clock's."""
    if days < 1:
        raise ValueError("--days must be at least 1")
    if not conn.table_exists("analytics", "outcomes"):
        raise OffPolicyRefused("no analytics.outcomes yet: run `xbot refresh` first")
    end = as_of or conn.scalar("select max(posted_at) from analytics.outcomes where account_id = ? and "
                               "passes_learning_gate", [account_id])
    if end is None:
        raise OffPolicyRefused(f"account {account_id!r} has no posts past the learning gate")
    end = pd.Timestamp(end).to_pydatetime()
    start = end - timedelta(days=days)
    frame = conn.fetch_df(
        f"select {', '.join(LOGGED_COLUMNS)} from analytics.outcomes where account_id = ? and passes_learning_gate "
        "and posted_at > ? and posted_at <= ? order by posted_at, decision_id", [account_id, start, end])
    not_chosen = frame["generator_name"].isna() | frame["generator_name"].isin(NOT_GENERATORS)
    no_outcome = ~not_chosen & ~(pd.to_numeric(frame["impressions"], errors="coerce").gt(0)
                                 & frame["engagement_rate"].notna() & frame["followers_gained"].notna())
    excluded = {reason: int(n) for reason, n in (
        ("imported or without a generator (chosen by no policy of ours)", not_chosen.sum()),
        ("without impressions, engagement rate or followers", no_outcome.sum())) if n}
    logged = frame[~not_chosen & ~no_outcome].reset_index(drop=True)
    for column in ("impressions", "engagement_rate", "followers_gained", "quality_score", "posted_hour",
                   "novelty_score", "expertise_score", "viral_score", "topic_propensity", "hook_propensity"):
        logged[column] = pd.to_numeric(logged[column], errors="coerce").astype(float)
    logged["is_thread"] = logged["is_thread"].map(lambda v: None if v is None else float(v)).astype(float)
    return LoggedPosts(logged, start, end, excluded)


def _generator_weights(conn: Connection, account_id: str) -> tuple[dict[str, float], str]:
    rows = conn.fetchall(
        "select generator_name, weight, updated_at from learn.generator_weights where account_id = ? and "
        "status <> 'disabled' and weight > 0 order by generator_name", [account_id],
    ) if conn.table_exists("learn", "generator_weights") else []
    if not rows:
        raise OffPolicyRefused(f"account {account_id!r} has no learned generator weights (learn.generator_weights): "
                               f"run `xbot refresh` first")
    total = sum(float(w) for _, w, _ in rows)
    # Planning draws from the non-disabled positive weights, normalised: the same distribution here.
    return {str(g): float(w) / total for g, w, _ in rows}, f"updated {max(u for _, _, u in rows):%Y-%m-%d %H:%M}"


def _generator_posteriors(conn: Connection, account_id: str, usable: set[str]) -> dict[str, float]:
    rows = conn.fetchall(
        "select generator_name, selection_probability from learn.generator_posteriors where account_id = ? "
        "order by generator_name", [account_id],
    ) if conn.table_exists("learn", "generator_posteriors") else []
    probs = {str(g): float(p) for g, p in rows if str(g) in usable}
    if not probs or sum(probs.values()) <= 0:
        raise OffPolicyRefused(f"account {account_id!r} has no generator posteriors (learn.generator_posteriors): "
                               f"run `xbot refresh` first")
    total = sum(probs.values())
    return {g: p / total for g, p in probs.items()}


def target_from_file(path: Path) -> TargetPolicy:
    """{"generators": {name: prob}, "content_types": {name: prob}, "topics": {topic arm: prob}, "hooks": {hook type:
    prob}}; a missing key keeps the logging policy's own."""
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise OffPolicyRefused(f"cannot read the target file {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise OffPolicyRefused(f"the target file {path} is not JSON: {exc}") from exc
    if not isinstance(document, dict) or not set(document) <= FILE_KEYS or not document:
        raise OffPolicyRefused(f"the target file {path} must be an object with {' and/or '.join(sorted(FILE_KEYS))}")
    for key, value in document.items():
        if not isinstance(value, dict):
            raise OffPolicyRefused(f"{key} in {path} must map names to probabilities")
    return TargetPolicy(path.name, **{key: document.get(key) for key in sorted(FILE_KEYS)},
                        description=f"the distributions in {path}")


def read_target(conn: Connection, account_id: str, spec: str) -> TargetPolicy:
    """weights | posterior | uniform over generators (content types: the logging policy's own), or a JSON file.

    Content types stay the logged choice for the named targets: they are drawn by Thompson sampling on arms that
    evolve with every outcome, and both generator policies share that; the current arms' probabilities would instead
    evaluate today's arms frozen over the whole window, a policy the account never ran. A file may set them."""
    if spec not in NAMED_TARGETS:
        return target_from_file(Path(spec))
    weights, updated = _generator_weights(conn, account_id)
    if spec == "weights":
        return TargetPolicy("weights", generators=weights,
                            description=f"generators by the account's current weights ({updated})")
    if spec == "posterior":
        return TargetPolicy("posterior", generators=_generator_posteriors(conn, account_id, set(weights)),
                            description="generators by posterior sampling on the current generator posteriors")
    return TargetPolicy("uniform", generators=uniform_over(weights),
                        description=f"generators uniformly over the account's {len(weights)} usable generators")


@dataclass(frozen=True)
class LearnedModels:
    """The account's newest learned models (the registry; Redis is a cache of it); None where a default is in use."""

    engagement: dict | None
    follow: dict | None


def learned_models(warehouse: Warehouse, account_id: str) -> LearnedModels:
    loaded = load_models(warehouse, account_id)
    return LearnedModels(*(None if loaded.sources[name] == SOURCE_SEED_DEFAULT else model
                           for name, model in ((ENGAGEMENT_MODEL, loaded.engagement), (FOLLOW_MODEL, loaded.follow))))


def off_policy_report(warehouse: Warehouse, account_id: str, target_spec: str, *, days: int = 30,
                      as_of: datetime | None = None, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                      level: float = DEFAULT_LEVEL, min_effective: float = MIN_EFFECTIVE_POSTS) -> dict:
    """The JSON `xbot ope` prints: the window, the target, and the estimates of `evaluate_target`."""
    with warehouse.connect(read_only=True) as conn:
        logged = read_logged_posts(conn, account_id, days, as_of)
        target = read_target(conn, account_id, target_spec)
    models = learned_models(warehouse, account_id)
    result = evaluate_target(logged.frame, target, engagement_model=models.engagement, follow_model=models.follow,
                             bootstrap=bootstrap, seed=seed, level=level, min_effective=min_effective)
    reported = int(logged.frame["followers_reported"].notna().sum())
    if reported < len(logged.frame):
        # Attribution shares every measured gain (organic growth included) among the live posts, so a generator's
        # attributed F/1K leans towards the account's average and the estimates inherit that.
        result["notes"].append(
            f"followers: {reported} of {len(logged.frame)} posts have X's own per-post follows; the rest are "
            f"attributed shares of the account's gains, which pull every generator towards the account's average")
    return {"account": account_id,
            "window": {"from": logged.window_start.isoformat(), "to": logged.window_end.isoformat(), "days": days},
            "excluded": logged.excluded, **result}
