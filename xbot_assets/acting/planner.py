"""Planning the next posts (PRODUCT §6): pure decisions from learned state, no database and no Dagster.

For each free slot of the day: the hour by UCB1 over the timing arms, then — up to `attempts_per_slot` times — a
content type by Thompson sampling over the content arms, a generator by the weights (or by posterior sampling), a
topic (the trending share, else Thompson over the topic arms) and a hook (Thompson over the hook arms; both in
`arm_choices`), a text from the generator asked for that topic and hook, the quality gate, novelty/expertise/viral scores, predictions from the loaded models and the
threshold gate. Every candidate is returned, queued or skipped, with its propensities and its reasons.

The threshold gate (predicted ER ≥ 3.5 %, P(follow) ≥ 0.5) applies a model only once it has earned trust: trained on
real outcomes (not a seed default) and beating its baseline on the time-ordered holdout. Until then the gate stands
aside and says so in the reasons, so a cold start explores instead of being blocked by a guess.

The static policy is the seed defaults frozen: content types uniformly at random, fixed posting hours, generators by
the seed weights, no model gate. It is what `xbot evaluate` compares learning against.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from xbot_assets.acting.arm_choices import (
    PROPENSITY_DRAWS,
    TrendingTopic,
    WinProbabilities,
    beta_choice,
    choose_hook,
    choose_topic,
    write_with,
)
from xbot_assets.acting.generators.base import GenerationFailed
from xbot_assets.acting.generators.offline import Draft, generate_offline
from xbot_assets.acting.slots import SLOT_MINUTES, free_slots, posts_planned_today
from xbot_assets.acting.text_features import (
    MAX_SINGLE_LENGTH,
    expertise_score,
    max_similarity,
    novelty_score,
    quality_score,
    viral_score,
    weighted_length,
)
from xbot_assets.connectors.base import contains_url
from xbot_assets.ingest.hooks import classify_hook
from xbot_assets.learning.features import features_for_models
from xbot_assets.learning.generator_posterior import generator_propensities, sample_generator
from xbot_assets.learning.predictors import predict_engagement, predict_follow_probability
from xbot_assets.learning.timing_arms import ucb1_indices

DEFAULT_CONTENT_TYPES = ("educational_thread", "factual_single", "myth_busting", "wellness_tip")
THREAD_CONTENT_TYPES = ("educational_thread",)
POLICIES = ("learned", "static")
GENERATOR_POLICIES = ("weights", "posterior")
# What a new account gets: posterior sampling won on every shipped scenario (README, "Does it learn?"); the seed's
# weight optimizer stays selectable per account.
DEFAULT_GENERATOR_POLICY = "posterior"


@dataclass(frozen=True)
class PlanSettings:
    posts_per_day: int = 4
    max_posts_per_hour: int = 2
    max_posts_per_day: int = 24
    min_quality: float = 0.6
    min_predicted_er: float = 0.035
    min_follow_probability: float = 0.5
    attempts_per_slot: int = 3
    lead_minutes: int = 5
    policy: str = "learned"
    generator_policy: str = DEFAULT_GENERATOR_POLICY
    ucb_c: float = 1.0
    timezone: str = "UTC"
    allow_urls: bool = False  # a post with a link costs $0.20 on X instead of $0.015: off unless the account says
    banned_words: tuple[str, ...] = ()  # from the account's profile
    banned_claims: tuple[str, ...] = ()
    max_example_similarity: float = 0.6  # TF-IDF cosine to a viral example above which a draft is a near copy
    # TF-IDF cosine of a draft's opening post to one of the account's last 7 days' posts (or of this plan) at or above
    # which it is the same post again: a thread repeated word for word, or a single post, is never queued twice.
    max_repeat_similarity: float = 0.95
    content_types: tuple[str, ...] = DEFAULT_CONTENT_TYPES
    static_hours: tuple[int, ...] | None = None
    trending_share: float = 0.35  # slots on a trending topic (the original's 35 %), when one is trending
    learn_topics: bool = True  # off: topics by the profile's weights, as before the topic arms (issue 17)
    learn_hooks: bool = True  # off: hooks uniformly at random

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        if self.generator_policy not in GENERATOR_POLICIES:
            raise ValueError(f"generator_policy must be one of {GENERATOR_POLICIES}, got {self.generator_policy!r}")
        if not 1 <= self.max_posts_per_hour <= len(SLOT_MINUTES):
            raise ValueError(f"max_posts_per_hour must be 1..{len(SLOT_MINUTES)}, got {self.max_posts_per_hour}")
        if self.posts_per_day < 0 or self.max_posts_per_day < 0:
            raise ValueError("posts per day must not be negative")
        if self.attempts_per_slot < 1:
            raise ValueError("attempts_per_slot must be at least 1")
        if not 0.0 <= self.trending_share <= 1.0:
            raise ValueError(f"trending_share must be in [0, 1], got {self.trending_share}")

    @property
    def daily_target(self) -> int:
        return min(self.posts_per_day, self.max_posts_per_day, 24 * self.max_posts_per_hour)

    def fixed_hours(self) -> list[int]:
        """The static policy's hours: the seed's evenly spread local hours from 09:00."""
        if self.static_hours:
            return list(self.static_hours)
        step = 14 / max(1, self.daily_target)
        return [int(9 + round(i * step)) % 24 for i in range(self.daily_target)]


@dataclass
class ModelView:
    """One loaded model and whether the threshold gate may use it."""

    document: dict
    trusted: bool
    why: str


@dataclass
class PlanningState:
    """Everything planning reads, gathered by the caller."""

    content_arms: pd.DataFrame          # content_type, alpha, beta
    timing_stats: pd.DataFrame          # hour, plays, mean_reward (24 rows)
    reward_scale: float                 # spread of the timing rewards (UCB1 bonus scale)
    generator_weights: dict[str, float]
    generator_posteriors: pd.DataFrame  # generator_name, shape, rate
    engagement: ModelView
    follow: ModelView
    recent_texts: list[str]
    taken: Counter = field(default_factory=Counter)   # naive-UTC slot start -> posts already queued or posted there
    pending_hours: Counter = field(default_factory=Counter)  # local hour -> queued posts not yet rewarded
    topic_weights: dict[str, float] = field(default_factory=dict)  # the account's topics (the topic arms' values)
    topic_arms: pd.DataFrame = field(default_factory=pd.DataFrame)  # arm_value, alpha, beta (scope topic)
    hook_arms: pd.DataFrame = field(default_factory=pd.DataFrame)   # arm_value, alpha, beta (scope hook)
    trending: list[TrendingTopic] = field(default_factory=list)     # best first
    formulas: dict[str, list[dict]] = field(default_factory=dict)   # generator -> its best learned formulas


@dataclass
class Candidate:
    decision_id: str
    status: str                 # queued | skipped
    scheduled_at: datetime
    local_hour: int
    content_type: str
    generator_name: str
    draft: Draft
    quality: float
    novelty: float
    expertise: float
    viral: float
    predicted_er: float
    predicted_follow_prob: float
    content_propensity: float
    timing_propensity: float
    generator_propensity: float
    reasons: list[str]
    skip_reason: str | None
    hook: str | None = None
    hook_propensity: float = float("nan")
    topic_arm: str | None = None
    topic_source: str | None = None
    topic_propensity: float = float("nan")

    def to_row(self, account_id: str, source: str, created_at: datetime) -> dict:
        """The raw.posts row of this candidate (the validated writer takes it from here)."""
        thread = len(self.draft.thread_parts) > 1
        return {
            "decision_id": self.decision_id, "account_id": account_id, "status": self.status,
            "decision_type": "thread" if thread else "single", "content": self.draft.text,
            "thread_parts": list(self.draft.thread_parts) or None, "content_type": self.content_type,
            "generator_name": self.generator_name, "topic": self.draft.topic, "quality_score": self.quality,
            "novelty_score": self.novelty, "expertise_score": self.expertise, "viral_score": self.viral,
            "predicted_er": self.predicted_er, "predicted_follow_prob": self.predicted_follow_prob,
            "content_propensity": self.content_propensity, "timing_propensity": self.timing_propensity,
            "generator_propensity": self.generator_propensity, "scheduled_at": self.scheduled_at,
            "skip_reason": self.skip_reason, "decision_reasons": json.dumps(self.reasons), "source": source,
            "created_at": created_at, "generator_prompt_version": self.draft.prompt_version,
            "generator_model": self.draft.model, "content_type_source": "planner", "hook": self.hook,
            "hook_propensity": self.hook_propensity, "topic_arm": self.topic_arm, "topic_source": self.topic_source,
            "topic_propensity": self.topic_propensity,
        }


def choose_hours(state: PlanningState, settings: PlanSettings, slots: dict[int, list[datetime]], need: int,
                 rng: np.random.Generator) -> list[tuple[int, float]]:
    """`need` hours (with repeats up to the open slots) and each one's propensity.

    Learned: UCB1 one pick at a time; every pick (and every queued post not yet rewarded) counts as a pending play of
    its hour, so one batch spreads over hours as the index's bonus shrinks instead of stacking on one hour.
    Static: the fixed hours, in order. UCB1 is deterministic up to ties, so a pick's propensity is 1/(tied hours).
    """
    room = {h: len(times) for h, times in slots.items()}
    chosen: list[tuple[int, float]] = []
    if settings.policy == "static":
        for hour in settings.fixed_hours():
            if len(chosen) >= need:
                break
            if room.get(hour, 0) > 0:
                room[hour] -= 1
                chosen.append((hour, 1.0))
        return chosen
    stats = state.timing_stats.set_index("hour").reindex(range(24))
    plays = stats["plays"].fillna(0).to_numpy(dtype=float)
    means = stats["mean_reward"].to_numpy(dtype=float)
    pending = np.array([state.pending_hours.get(h, 0) for h in range(24)], dtype=float)
    for _ in range(need):
        allowed = [h for h in range(24) if room.get(h, 0) > 0]
        if not allowed:
            break
        frame = pd.DataFrame({"hour": range(24), "plays": plays + pending, "mean_reward": means})
        # A pending play keeps the hour's mean but counts as evidence, shrinking its bonus.
        frame.loc[(plays == 0) & (pending > 0), "mean_reward"] = np.nanmean(means) if np.isfinite(means).any() else 0.0
        indices = ucb1_indices(frame, settings.ucb_c, state.reward_scale).loc[allowed]
        best = indices.max()
        values = indices.to_numpy()
        tied = indices.index[np.isinf(values)] if np.isinf(best) else indices.index[
            np.isclose(values, best, rtol=1e-12, atol=1e-15)]
        hour = int(tied[0]) if len(tied) == 1 else int(rng.choice(np.asarray(tied)))
        chosen.append((hour, 1.0 / len(tied)))
        room[hour] -= 1
        pending[hour] += 1
    return chosen


def _content_choice(state: PlanningState, settings: PlanSettings, rng: np.random.Generator,
                    wins: WinProbabilities) -> tuple[str, float]:
    if settings.policy == "static":
        types = list(settings.content_types)
        return types[int(rng.integers(len(types)))], 1.0 / len(types)
    # the same Thompson choice as topics and hooks: Beta posteriors, Beta(1,1) for a type never played
    return beta_choice(state.content_arms.rename(columns={"content_type": "arm_value"}), settings.content_types, rng,
                       wins)


def _generator_choice(state: PlanningState, settings: PlanSettings, rng: np.random.Generator,
                      wins: WinProbabilities) -> tuple[str, float]:
    if settings.policy == "learned" and settings.generator_policy == "posterior" and len(state.generator_posteriors):
        post = state.generator_posteriors
        pick = sample_generator(post, rng)
        props = wins.once(("generators", *(tuple(post[c]) for c in ("generator_name", "shape", "rate"))),
                          lambda: generator_propensities(post, rng, n_draws=PROPENSITY_DRAWS))
        return pick, max(props[pick], 1.0 / (PROPENSITY_DRAWS + 1))
    names = [g for g, w in state.generator_weights.items() if w > 0]
    if not names:
        raise ValueError("no generator has a positive weight")
    weights = np.array([state.generator_weights[g] for g in names], dtype=float)
    weights /= weights.sum()
    index = int(rng.choice(len(names), p=weights))
    return names[index], float(weights[index])


def _unwritten(reason: str, scheduled_at: datetime, hour: int, content_type: str, generator: str,
               content_propensity: float, timing_propensity: float, generator_propensity: float,
               decision_id: str) -> Candidate:
    """A slot's attempt whose generator gave no text: kept as a skipped decision with the reason, no scores."""
    nan = float("nan")
    return Candidate(
        decision_id=decision_id, status="skipped", scheduled_at=scheduled_at, local_hour=hour,
        content_type=content_type, generator_name=generator, draft=Draft("", "", generator, content_type, ()),
        quality=nan, novelty=nan, expertise=nan, viral=nan, predicted_er=nan, predicted_follow_prob=nan,
        content_propensity=content_propensity, timing_propensity=timing_propensity,
        generator_propensity=generator_propensity, reasons=[f"generator {generator}: {reason}"], skip_reason=reason)


def profile_rejections(text: str, settings: PlanSettings) -> list[str]:
    """The account profile's gate: a banned word (as a whole word, any case) or a banned claim (its words, in
    order, anywhere in the text)."""
    lowered = " ".join(re.findall(r"[\w']+", text.lower()))
    found = [w for w in settings.banned_words if re.search(rf"\b{re.escape(w.lower())}\b", text.lower())]
    claims = [c for c in settings.banned_claims if " ".join(re.findall(r"[\w']+", c.lower())) in lowered]
    return ([f"profile gate: banned word {w!r}" for w in found]
            + [f"profile gate: makes the banned claim {c!r}" for c in claims])


def plan_day(
    state: PlanningState,
    settings: PlanSettings,
    now: datetime,
    rng: np.random.Generator,
    decision_id: Callable[[datetime, int], str],
    generate: Callable[..., Draft] = generate_offline,
) -> list[Candidate]:
    """Fill the rest of the account's local day up to its daily target; every candidate is returned."""
    need = settings.daily_target - posts_planned_today(now, settings, state.taken)
    if need <= 0:
        return []
    slots = free_slots(now, settings, state.taken)
    hours = choose_hours(state, settings, slots, need, rng)
    recent = list(state.recent_texts)
    wins = WinProbabilities()
    candidates: list[Candidate] = []
    counter = 0
    for hour, timing_propensity in hours:
        scheduled_at = slots[hour].pop(0)
        for attempt in range(settings.attempts_per_slot):
            content_type, content_propensity = _content_choice(state, settings, rng, wins)
            generator, generator_propensity = _generator_choice(state, settings, rng, wins)
            learned = settings.policy == "learned"
            topic = choose_topic(state.topic_weights, state.topic_arms, state.trending, rng=rng, wins=wins,
                                 learn=learned and settings.learn_topics, trending_share=settings.trending_share)
            hook, hook_propensity = choose_hook(state.hook_arms, learn=learned and settings.learn_hooks, rng=rng,
                                                wins=wins)
            try:
                draft = write_with(generate, generator, content_type, rng, thread=content_type in THREAD_CONTENT_TYPES,
                                   topic=topic.text_topic if topic else None, hook=hook,
                                   formulas=state.formulas.get(generator))
            except GenerationFailed as exc:  # the slot's attempt is skipped with the generator's reason
                candidate = _unwritten(str(exc), scheduled_at, hour, content_type, generator, content_propensity,
                                       timing_propensity, generator_propensity, decision_id(scheduled_at, counter))
            else:
                candidate = _assess(
                    state, settings, draft, recent, scheduled_at, hour, content_type, generator, content_propensity,
                    timing_propensity, generator_propensity, decision_id(scheduled_at, counter),
                    topic_arm=topic.topic_arm if topic else None, hook=hook,
                )
            counter += 1
            _mark_topic_and_hook(candidate, topic, hook, hook_propensity)
            if attempt:
                candidate.reasons.append(f"attempt {attempt + 1} of {settings.attempts_per_slot} for this slot")
            candidates.append(candidate)
            if candidate.status == "queued":
                recent.append(draft.text)
                break
    return candidates


def _mark_topic_and_hook(candidate: Candidate, topic, hook: str, hook_propensity: float) -> None:
    """The chosen topic and hook with their propensities; a draft that reads as another hook is said so (the arm
    learns the hook that was asked for: that was the decision)."""
    candidate.hook, candidate.hook_propensity = hook, hook_propensity
    read_as = classify_hook(candidate.draft.text).hook if candidate.draft.text else hook
    candidate.reasons.append(f"hook {hook} (P={hook_propensity:.2f})"
                             + ("" if read_as == hook else f"; the text reads as {read_as}"))
    if topic is not None:
        candidate.topic_arm, candidate.topic_source, candidate.topic_propensity = (
            topic.topic_arm, topic.source, topic.propensity)
        on = "" if topic.text_topic == topic.topic_arm else f" as trending {topic.text_topic!r}"
        candidate.reasons.append(f"topic {topic.topic_arm}{on} ({topic.source}, P={topic.propensity:.2f})")


def _assess(state: PlanningState, settings: PlanSettings, draft: Draft, recent: Sequence[str], scheduled_at: datetime,
            hour: int, content_type: str, generator: str, content_propensity: float, timing_propensity: float,
            generator_propensity: float, decision_id: str, *, topic_arm: str | None, hook: str) -> Candidate:
    similarity = max_similarity(draft.text, recent)  # one TF-IDF fit for both scores
    quality = quality_score(draft.text, recent, similarity=similarity)
    novelty = novelty_score(draft.text, recent, similarity=similarity)
    expertise, viral = expertise_score(draft.text), viral_score(draft.text)
    row = pd.DataFrame([{
        "quality_score": quality.value, "content_type": content_type, "posted_hour": hour,
        "is_thread": float(len(draft.thread_parts) > 1), "novelty_score": novelty, "expertise_score": expertise,
        "viral_score": viral, "generator_name": generator, "topic_arm": topic_arm, "hook": hook,
    }])
    features = features_for_models(row, (state.engagement.document, state.follow.document),
                                   [*settings.content_types, content_type])
    er = float(predict_engagement(state.engagement.document, features)[0])
    follow = float(predict_follow_probability(state.follow.document, features)[0])

    reasons = [f"quality {quality.value:.2f}" + (f" ({'; '.join(quality.reasons)})" if quality.reasons else "")]
    rejections: list[str] = []
    if quality.value < settings.min_quality:
        rejections.append(f"quality gate: {quality.value:.2f} < {settings.min_quality:.2f}")
    if similarity >= settings.max_repeat_similarity:
        rejections.append(f"repeat gate: {similarity:.2f} similar to a recent post of the account (>= "
                          f"{settings.max_repeat_similarity:.2f})")
    rejections += profile_rejections(" ".join((draft.text, *draft.thread_parts)), settings)
    if draft.examples:
        copied = max_similarity(" ".join((draft.text, *draft.thread_parts)), draft.examples)
        if copied > settings.max_example_similarity:
            rejections.append(f"copy gate: {copied:.2f} similar to a viral example it was shown (> "
                              f"{settings.max_example_similarity:.2f})")
    too_long = [i + 1 for i, part in enumerate(draft.thread_parts) if weighted_length(part) > MAX_SINGLE_LENGTH]
    if too_long:
        rejections.append(f"length gate: thread part(s) {', '.join(map(str, too_long))} over X's "
                          f"{MAX_SINGLE_LENGTH} weighted characters")
    if not settings.allow_urls and contains_url(" ".join((draft.text, *draft.thread_parts))):
        rejections.append("link gate: the text contains a link and the account does not allow links")
    if settings.policy == "learned":
        for label, view, value, floor, fmt in (
            ("predicted ER", state.engagement, er, settings.min_predicted_er, "{:.2%}"),
            ("P(follow)", state.follow, follow, settings.min_follow_probability, "{:.2f}"),
        ):
            if not view.trusted:
                reasons.append(f"{label} {fmt.format(value)} not gated: {view.why}")
            elif value < floor:
                rejections.append(f"threshold gate: {label} {fmt.format(value)} < {fmt.format(floor)}")
            else:
                reasons.append(f"{label} {fmt.format(value)} ≥ {fmt.format(floor)}")
    else:
        reasons.append("static policy: no model gate")
    return Candidate(
        decision_id=decision_id, status="skipped" if rejections else "queued", scheduled_at=scheduled_at,
        local_hour=hour, content_type=content_type, generator_name=generator, draft=draft, quality=quality.value,
        novelty=novelty, expertise=expertise, viral=viral, predicted_er=er, predicted_follow_prob=follow,
        content_propensity=content_propensity, timing_propensity=timing_propensity,
        generator_propensity=generator_propensity, reasons=[*rejections, *reasons],
        skip_reason="; ".join(rejections) or None,
    )
