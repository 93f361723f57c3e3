"""Planning on a warehouse: read one account's learned state, plan the rest of its day (`acting.planner`, pure)
under the planning lock, and store every candidate, queued or skipped, in raw.posts.

Settings (environment): XBOT_MAX_POSTS_PER_HOUR (2), XBOT_MAX_POSTS_PER_DAY (24), XBOT_MIN_QUALITY (0.6),
XBOT_MIN_PREDICTED_ER (0.035), XBOT_MIN_FOLLOW_PROB (0.5), XBOT_ATTEMPTS_PER_SLOT (3), XBOT_TIMEZONE (UTC),
XBOT_UCB_C (1.0), XBOT_PLAN_SEED (0). Per account (act.accounts): connector, policy, generator policy, posts a day.
"""

from __future__ import annotations

import os
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from xbot_assets.acting.accounts import GENERATORS, Account
from xbot_assets.acting.formulas import best_formulas
from xbot_assets.acting.generators.base import GenerationFailed
from xbot_assets.acting.generators.offline import TOPICS, Draft, generate_offline, generate_offline_on
from xbot_assets.acting.lock import exclusive
from xbot_assets.acting.planner import Candidate, ModelView, PlanningState, PlanSettings, plan_day
from xbot_assets.acting.profile import AccountProfile, load_profile
from xbot_assets.acting.trending import load_trending
from xbot_assets.clock import utc_naive
from xbot_assets.ingest.load import write_posts
from xbot_assets.ingest.records import LoadReport
from xbot_assets.learned.serving import load_models
from xbot_assets.learning.generator_posterior import generator_posteriors
from xbot_assets.learning.generator_weights import DEFAULT_WEIGHTS
from xbot_assets.learning.predictors import ENGAGEMENT_MODEL, FOLLOW_MODEL, SOURCE_SEED_DEFAULT
from xbot_assets.learning.timing_arms import reward_scale
from xbot_assets.settings import env_float, env_int
from xbot_assets.warehouse.connection import Warehouse

RECENT_DAYS = 7


def plan_settings(account: Account) -> PlanSettings:
    return PlanSettings(
        posts_per_day=account.posts_per_day,
        max_posts_per_hour=env_int("XBOT_MAX_POSTS_PER_HOUR", 2),
        max_posts_per_day=env_int("XBOT_MAX_POSTS_PER_DAY", 24),
        min_quality=env_float("XBOT_MIN_QUALITY", 0.6),
        min_predicted_er=env_float("XBOT_MIN_PREDICTED_ER", 0.035),
        min_follow_probability=env_float("XBOT_MIN_FOLLOW_PROB", 0.5),
        attempts_per_slot=env_int("XBOT_ATTEMPTS_PER_SLOT", 3),
        policy=account.policy,
        generator_policy=account.generator_policy,
        ucb_c=env_float("XBOT_UCB_C", 1.0),
        timezone=account.timezone or _timezone(),
        allow_urls=account.allow_urls,
        trending_share=env_float("XBOT_TRENDING_SHARE", 0.35),
        learn_topics=env_int("XBOT_TOPIC_ARMS", 1) != 0,
        learn_hooks=env_int("XBOT_HOOK_ARMS", 1) != 0,
    )


def _timezone() -> str:
    return os.environ.get("XBOT_TIMEZONE", "UTC")


@dataclass
class PlanReport:
    account_id: str
    candidates: list[Candidate]
    posts: LoadReport
    models: str
    reasons: Counter = field(default_factory=Counter)

    @property
    def queued(self) -> int:
        return sum(c.status == "queued" for c in self.candidates)

    @property
    def skipped(self) -> int:
        return sum(c.status == "skipped" for c in self.candidates)


def _model_view(document: dict, source: str) -> ModelView:
    metrics = document.get("metrics") or {}
    if source == SOURCE_SEED_DEFAULT or document.get("source") == SOURCE_SEED_DEFAULT:
        return ModelView(document, False, "seed default, not learned yet")
    if not document.get("trained"):
        return ModelView(document, False, f"not trained ({document.get('reason')})")
    if metrics.get("beats_baseline") is not True:
        return ModelView(document, False, "does not beat its baseline on the holdout yet")
    return ModelView(document, True, "trusted")


def _posterior_arms(conn, account_id: str, scope: str, has_arms: bool) -> pd.DataFrame:
    """A scope's stored posteriors: alpha and beta, what they are the posterior of (reward) and their prior."""
    if not has_arms:
        return pd.DataFrame(columns=["arm_value", "alpha", "beta", "reward", "prior_alpha", "prior_beta"])
    return conn.fetch_df("select arm_value, alpha, beta, reward, prior_alpha, prior_beta from learn.bandit_arms "
                         "where account_id = ? and scope = ? order by arm_value", [account_id, scope])


def load_planning_state(
    warehouse: Warehouse, account: Account, settings: PlanSettings, now: datetime, redis_url: str | None = None,
    profile: AccountProfile | None = None,
) -> tuple[PlanningState, str]:
    """What planning reads for one account; the static policy reads no learned state at all."""
    static = settings.policy == "static"
    # load_models opens its own (read-only) connection: it runs before ours is open.
    models = None if static else load_models(warehouse, account.account_id, redis_url)
    if models is None:
        from xbot_assets.learning.predictors import seed_default_models

        ridge, logistic = seed_default_models(list(settings.content_types))
        engagement, follow = _model_view(ridge, SOURCE_SEED_DEFAULT), _model_view(logistic, SOURCE_SEED_DEFAULT)
        models_detail = "static policy: seed default models, never gating"
    else:
        engagement = _model_view(models.engagement, models.sources[ENGAGEMENT_MODEL])
        follow = _model_view(models.follow, models.sources[FOLLOW_MODEL])
        models_detail = models.detail
    aid = account.account_id
    with warehouse.connect() as conn:
        has_arms = not static and conn.table_exists("learn", "bandit_arms")
        content = conn.fetch_df(
            "select arm_value as content_type, alpha, beta from learn.bandit_arms "
            "where account_id = ? and scope = 'content' order by arm_value", [aid]) if has_arms else pd.DataFrame(
            columns=["content_type", "alpha", "beta"])
        timing = conn.fetch_df(
            "select arm_value, plays, mean_reward from learn.bandit_arms where account_id = ? and scope = 'timing'",
            [aid]) if has_arms else pd.DataFrame(columns=["arm_value", "plays", "mean_reward"])
        timing_stats = pd.DataFrame({
            "hour": pd.to_numeric(timing["arm_value"]).astype(int),
            "plays": timing["plays"].astype(float),
            "mean_reward": timing["mean_reward"].astype(float),
        }) if len(timing) else pd.DataFrame({"hour": range(24), "plays": 0.0, "mean_reward": np.nan})
        scale = 1.0
        if not static and conn.table_exists("analytics", "outcomes"):
            rewards = conn.fetch_df(
                "select engagement_rate from analytics.outcomes where account_id = ? and passes_learning_gate "
                "and engagement_rate is not null", [aid])["engagement_rate"]
            scale = reward_scale(rewards)

        weights = dict(DEFAULT_WEIGHTS)
        if not static and conn.table_exists("learn", "generator_weights"):
            stored = conn.fetchall(
                "select generator_name, weight from learn.generator_weights where account_id = ? "
                "and status <> 'disabled' order by generator_name", [aid])
            if stored:
                weights = {str(g): float(w) for g, w in stored}
        posteriors = pd.DataFrame()
        if not static and settings.generator_policy == "posterior":
            if conn.table_exists("learn", "generator_posteriors"):
                posteriors = conn.fetch_df(
                    "select generator_name, shape, rate from learn.generator_posteriors where account_id = ? "
                    "order by generator_name", [aid])
                posteriors = posteriors[posteriors["generator_name"].isin(list(weights))]
            if posteriors.empty:
                empty = pd.DataFrame(columns=["generator_name", "impressions", "followers_gained", "posted_at"])
                posteriors = generator_posteriors(empty, list(weights))[["generator_name", "shape", "rate"]]

        recent = conn.fetchall(
            "select content from raw.posts where account_id = ? and status in ('posted', 'queued') "
            "and content is not null and coalesce(posted_at, scheduled_at) > ? order by coalesce(posted_at, scheduled_at), "
            "decision_id",
            [aid, now - timedelta(days=RECENT_DAYS)])
        tz = ZoneInfo(settings.timezone)
        occupied = conn.fetchall(
            "select coalesce(scheduled_at, posted_at), status from raw.posts where account_id = ? "
            "and status in ('posted', 'queued') and coalesce(scheduled_at, posted_at) >= ?",
            [aid, now - timedelta(days=2)])
        # The topic arms' values: the profile's topics, or the offline niche's without a profile.
        topic_weights = profile.topic_weights() if profile else {t[0]: 1.0 / len(TOPICS) for t in TOPICS}
        topic_arms = _posterior_arms(conn, aid, "topic", has_arms)
        hook_arms = _posterior_arms(conn, aid, "hook", has_arms)
        trending = [] if static else load_trending(conn, aid, list(topic_weights), now)
        formulas = {} if static else best_formulas(conn, aid, list(weights))
    taken: Counter = Counter()
    pending: Counter = Counter()
    for at, status in occupied:
        at = utc_naive(pd.Timestamp(at).to_pydatetime())
        slot = at.replace(minute=0 if at.minute < 30 else 30, second=0, microsecond=0)
        taken[slot] += 1
        if status == "queued":
            pending[slot.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz).hour] += 1
    state = PlanningState(
        content_arms=content, timing_stats=timing_stats, reward_scale=scale, generator_weights=weights,
        generator_posteriors=posteriors, engagement=engagement, follow=follow,
        recent_texts=[r[0] for r in recent], taken=taken, pending_hours=pending, topic_weights=topic_weights,
        topic_arms=topic_arms, hook_arms=hook_arms, trending=trending, formulas=formulas,
    )
    return state, models_detail


def planning_rng(account_id: str, now: datetime) -> np.random.Generator:
    """Deterministic for (XBOT_PLAN_SEED, account, planning time): re-running a planning step decides the same."""
    return np.random.default_rng([env_int("XBOT_PLAN_SEED", 0), zlib.crc32(account_id.encode()),
                                  int(utc_naive(now).timestamp())])


def writer_kind(account: Account) -> str:
    kind = account.generator or os.environ.get("XBOT_GENERATOR") or "offline"
    if kind not in GENERATORS:
        raise ValueError(f"XBOT_GENERATOR must be one of {GENERATORS}, got {kind!r}")
    return kind


def viral_examples(warehouse: Warehouse, account_id: str, now: datetime, days: int = 30) -> list[tuple[str, str]]:
    """(topic, text) of the account's harvested viral examples of the last `days`, best first: prompt material
    only (they never reach the training set or the arms, which read the account's own posts)."""
    with warehouse.connect() as conn:
        if not conn.table_exists("raw", "viral_examples"):
            return []
        return [(t or "", c) for t, c in conn.fetchall(
            "select topic, content from raw.viral_examples where account_id = ? and collected_at > ? "
            "order by coalesce(likes, 0) desc, example_id", [account_id, now - timedelta(days=days)])]


def _topic(profile: AccountProfile, rng: np.random.Generator) -> str:
    names, weights = zip(*profile.topic_weights().items(), strict=True)
    return names[int(rng.choice(len(names), p=np.array(weights)))]


def offline_writer(profile: AccountProfile | None):
    """The planner's `generate` for the templates: the simulator's health niche without a profile, the profile's
    topics (drawn by weight) and audience with one; the templates are English, so another language is a skip."""
    if profile is None:
        return generate_offline

    def write(generator_name: str, content_type: str, rng: np.random.Generator, *, thread: bool = False,
              topic: str | None = None, hook: str | None = None, formulas: list[dict] | None = None) -> Draft:
        if profile.language.lower().split("-")[0] != "en":
            raise GenerationFailed(f"offline: the templates are English and the profile's language is "
                                   f"{profile.language!r} (XBOT_GENERATOR=llm writes in it)")
        limits = profile.thread  # the templates write a thread of exactly this many parts: no rule to check
        return generate_offline_on(topic or _topic(profile, rng), profile.audience, generator_name, content_type,
                                   rng, thread=thread, thread_parts=min(max(4, limits.min_parts), limits.max_parts),
                                   hook=hook, formulas=formulas)

    return write


def llm_writer(warehouse: Warehouse, account: Account, profile: AccountProfile | None, now: datetime):
    """The planner's `generate` for the language model: a topic drawn from the profile's weights, up to three
    matching viral examples as structure, the profile's rules; a failure skips the attempt with its reason."""
    from xbot_assets.acting.generators.llm import LLMGenerator

    generator = LLMGenerator.from_env(warehouse, account.account_id) if profile is not None else None
    examples = viral_examples(warehouse, account.account_id, now)

    def write(generator_name: str, content_type: str, rng: np.random.Generator, *, thread: bool = False,
              topic: str | None = None, hook: str | None = None, formulas: list[dict] | None = None) -> Draft:
        if generator is None:
            raise GenerationFailed(f"llm: account {account.account_id} has no profile to write from "
                                   f"(xbot accounts profile {account.account_id} --file profile.yaml)")
        topic = topic or _topic(profile, rng)
        shown = [text for t, text in examples if topic.lower() in t.lower() or topic.lower() in text.lower()][:3]
        limits = profile.thread
        rules = [*profile.tone_rules, f"Write in the language {profile.language!r}.",
                 *(f"Never use the word {w!r}." for w in profile.banned_words),
                 *(f"Never claim that {c}." for c in profile.banned_claims)]
        if thread:
            rules.append(f"A thread has {limits.min_parts} to {limits.max_parts} posts.")
        draft = generator.generate(generator_name, content_type, topic, thread=thread, audience=profile.audience,
                                   examples=shown, rules=rules, hook=hook, formulas=formulas)
        if thread and not limits.min_parts <= len(draft.thread_parts) <= limits.max_parts:
            raise GenerationFailed(f"llm: a thread of {len(draft.thread_parts)} parts, outside the profile's "
                                   f"{limits.min_parts}-{limits.max_parts}")
        return Draft(draft.text, draft.output.topic, generator_name, content_type, draft.thread_parts,
                     prompt_version=draft.prompt_version, model=draft.model, examples=tuple(shown),
                     formula=(formulas or [{}])[0].get("name"))

    return write


def plan_posts(warehouse: Warehouse, account: Account, now: datetime, *, redis_url: str | None = None,
               settings: PlanSettings | None = None) -> PlanReport:
    """Plan the rest of the account's day under the planning lock and store every candidate in raw.posts."""
    now = utc_naive(now)
    settings = settings or plan_settings(account)
    with warehouse.connect() as conn:
        profile = load_profile(conn, account.account_id) if conn.table_exists("act", "account_profiles") else None
    if profile is not None:
        settings = replace(settings, banned_words=tuple(profile.banned_words),
                           banned_claims=tuple(profile.banned_claims))
    write = llm_writer(warehouse, account, profile, now) if writer_kind(account) == "llm" else offline_writer(profile)
    with exclusive(f"plan:{account.account_id}", warehouse=warehouse):
        state, models_detail = load_planning_state(warehouse, account, settings, now, redis_url, profile)
        stamp = now.strftime("%Y%m%dT%H%M%S")
        candidates = plan_day(
            state, settings, now, planning_rng(account.account_id, now), generate=write,
            decision_id=lambda _at, i: f"{account.account_id}-{stamp}-{i:02d}",
        )
        source = "simulated" if account.connector == "simulator" else "real"
        with warehouse.connect() as conn:
            report = write_posts(conn, [c.to_row(account.account_id, source, now) for c in candidates], now=now,
                                 source_name="planner")
    reasons = Counter(c.skip_reason.split(":")[0] for c in candidates if c.skip_reason)
    return PlanReport(account.account_id, candidates, report, models_detail, reasons)
