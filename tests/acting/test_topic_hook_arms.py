"""Hook types, topic arms and trending topics in the planner (issue 17), pure: no database."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from xbot_assets.acting.arm_choices import TrendingTopic, choose_topic, write_with
from xbot_assets.acting.generators.offline import (
    CONTENT_TYPE_FRAMES,
    PERSONA_TEMPLATES,
    TOPICS,
    generate_offline,
    generate_offline_on,
)
from xbot_assets.acting.generators.personas import HOOKS
from xbot_assets.acting.planner import DEFAULT_CONTENT_TYPES, ModelView, PlanningState, PlanSettings, plan_day
from xbot_assets.acting.text_features import MAX_SINGLE_LENGTH, quality_score, weighted_length
from xbot_assets.acting.trending import trending_topics
from xbot_assets.ingest.hooks import HOOK_TYPES, classify_hook
from xbot_assets.learning.generator_weights import DEFAULT_WEIGHTS
from xbot_assets.learning.predictors import seed_default_models

NOW = datetime(2026, 3, 1)
TOPIC_WEIGHTS = {"morning light": 0.5, "naps": 0.3, "caffeine timing": 0.2}


@pytest.mark.parametrize(("text", "hook"), [
    ("Why do night nurses sleep worse in summer? Light.", "question"),
    ("73% of shift workers drink coffee after 3 am.", "surprising number"),
    ("Unpopular opinion: naps are not laziness.", "contrarian claim"),
    ("Everyone says blue light ruins sleep, but dose matters more.", "contrarian claim"),
    ("I slept 4 hours a night for a year. Here is what changed.", "story"),
    ("5 mistakes shift workers make with caffeine:", "list"),
    ("How to nap on a 12-hour shift:", "how-to"),
    ("Myth: you can catch up on sleep at the weekend.", "myth/fact"),
    ("🧵 Myth: melatonin is a sleeping pill. Fact: it is a timing signal.", "myth/fact"),
    ("Light sets the clock; the clock sets the sleep.", "contrarian claim"),
])
def test_the_classifier_reads_the_opening(text, hook):
    assert classify_hook(text).hook == hook


def test_the_classifier_and_the_prompt_offer_the_same_seven_hooks():
    assert HOOK_TYPES == HOOKS and len(set(HOOK_TYPES)) == 7


def test_every_offline_hook_reads_as_itself_fits_x_and_passes_the_quality_gate():
    for generator in PERSONA_TEMPLATES:
        for content_type in CONTENT_TYPE_FRAMES:
            for hook in HOOK_TYPES:
                thread = content_type == "educational_thread"
                drafts = [generate_offline(generator, content_type, np.random.default_rng(s), thread=thread,
                                           topic=TOPICS[s][0], hook=hook) for s in range(3)]
                drafts.append(generate_offline_on("caffeine timing for rotating night shifts in hospitals",
                                                  "nurses on rotating shifts", generator, content_type,
                                                  np.random.default_rng(1), thread=thread, hook=hook))
                for draft in drafts:
                    assert classify_hook(draft.text).hook == hook, draft.text
                    assert weighted_length(draft.text) <= MAX_SINGLE_LENGTH
                    assert quality_score(draft.text).value >= 0.6, draft.text


def test_a_short_formula_shapes_the_offline_writer():
    formula = [{"name": "Short question", "hook": "question", "length": "short"}]
    long = generate_offline("coach", "factual_single", np.random.default_rng(2), topic="sleep", hook="question")
    short = generate_offline("coach", "factual_single", np.random.default_rng(2), topic="sleep", hook="question",
                             formulas=formula)
    assert short.formula == "Short question" and long.formula is None
    assert len(short.text) < len(long.text) and classify_hook(short.text).hook == "question"


def _state(**overrides) -> PlanningState:
    ridge, logistic = seed_default_models(list(DEFAULT_CONTENT_TYPES))
    state = PlanningState(
        content_arms=pd.DataFrame(columns=["content_type", "alpha", "beta"]),
        timing_stats=pd.DataFrame({"hour": range(24), "plays": 0.0, "mean_reward": np.nan}), reward_scale=1.0,
        generator_weights=dict(DEFAULT_WEIGHTS), generator_posteriors=pd.DataFrame(),
        engagement=ModelView(ridge, False, "seed default"), follow=ModelView(logistic, False, "seed default"),
        recent_texts=[], topic_weights=dict(TOPIC_WEIGHTS),
    )
    for key, value in overrides.items():
        setattr(state, key, value)
    return state


def _ids(at, i):
    return f"d-{at:%H%M}-{i}"


def _writer(seen: list):
    def write(generator_name, content_type, rng, *, thread=False, topic=None, hook=None):
        seen.append((topic, hook))
        return generate_offline_on(topic, "nurses", generator_name, content_type, rng, thread=thread, hook=hook)
    return write


def test_every_candidate_carries_its_topic_and_hook_with_propensities_and_the_writer_is_asked_for_them():
    seen: list = []
    candidates = plan_day(_state(), PlanSettings(posts_per_day=12), NOW, np.random.default_rng(1), _ids,
                          generate=_writer(seen))
    assert len(seen) == len(candidates) >= 12
    for candidate, (topic, hook) in zip(candidates, seen, strict=True):
        row = candidate.to_row("me", "simulated", NOW)
        assert row["hook"] == hook in HOOK_TYPES and 0 < row["hook_propensity"] <= 1
        assert row["topic_arm"] == topic in TOPIC_WEIGHTS and row["topic_source"] == "bandit"
        assert 0 < row["topic_propensity"] <= 1
        assert any(r.startswith(f"hook {hook} (P=") for r in candidate.reasons)


def test_learned_topic_and_hook_arms_steer_the_choice():
    arms = pd.DataFrame({"arm_value": ["naps", "morning light", "caffeine timing"], "alpha": [40.0, 2.0, 2.0],
                         "beta": [4.0, 30.0, 30.0]})
    hooks = pd.DataFrame({"arm_value": list(HOOK_TYPES), "alpha": [40.0] + [2.0] * 6, "beta": [4.0] + [30.0] * 6})
    candidates = plan_day(_state(topic_arms=arms, hook_arms=hooks), PlanSettings(posts_per_day=10), NOW,
                          np.random.default_rng(2), _ids, generate=_writer([]))
    assert Counter(c.topic_arm for c in candidates).most_common(1)[0][0] == "naps"
    assert all(c.hook == "question" and c.hook_propensity > 0.99 for c in candidates)


def test_static_policy_and_switched_off_arms_draw_by_weight_and_uniformly():
    for settings in (PlanSettings(posts_per_day=6, policy="static"),
                     PlanSettings(posts_per_day=6, learn_topics=False, learn_hooks=False)):
        candidates = plan_day(_state(), settings, NOW, np.random.default_rng(3), _ids, generate=_writer([]))
        for c in candidates:
            assert c.topic_source == "static" and c.topic_propensity == pytest.approx(TOPIC_WEIGHTS[c.topic_arm])
            assert c.hook_propensity == pytest.approx(1 / 7)


def test_the_trending_share_of_slots_writes_the_rising_topic_marked_trending():
    trend = [TrendingTopic("naps before a night shift", "naps", 3.2, 4.0)]
    rng = np.random.default_rng(4)
    picks = [choose_topic(TOPIC_WEIGHTS, pd.DataFrame(), trend, learn=True, trending_share=0.35, rng=rng)
             for _ in range(2000)]
    trending = [p for p in picks if p.source == "trending"]
    assert abs(len(trending) / len(picks) - 0.35) < 0.03
    assert {(p.text_topic, p.topic_arm, p.propensity) for p in trending} == {("naps before a night shift", "naps", 0.35)}
    assert all(p.propensity <= 0.65 for p in picks if p.source == "bandit")
    # No trending topic: every slot is the bandit's, at full propensity.
    alone = choose_topic(TOPIC_WEIGHTS, pd.DataFrame(), [], learn=True, trending_share=0.35, rng=rng)
    assert alone.source == "bandit"
    candidates = plan_day(_state(trending=trend), PlanSettings(posts_per_day=8, trending_share=1.0), NOW,
                          np.random.default_rng(5), _ids, generate=_writer([]))
    assert {c.topic_source for c in candidates} == {"trending"}
    assert all("naps before a night shift" in c.draft.text for c in candidates if c.draft.text)


def test_trending_topics_are_rising_and_inside_the_niche():
    day = timedelta(days=1)
    examples = (
        [("naps before a night shift", "a post", NOW - i * 0.5 * day) for i in range(5)]  # recent: rising
        + [("morning light", "old news", NOW - (10 + i) * day) for i in range(3)]  # only in the older half: falling
        + [("crypto", "buy now", NOW - day) for _ in range(9)]  # outside the niche
        + [(None, "my caffeine timing trick", NOW - 2 * day)]  # no label: the profile topic it names
    )
    found = trending_topics(examples, list(TOPIC_WEIGHTS), NOW)
    assert [(t.label, t.profile_topic) for t in found] == [("naps before a night shift", "naps"),
                                                           ("caffeine timing", "caffeine timing")]
    assert found[0].score > found[1].score


def test_a_writer_written_before_topic_and_hook_arms_still_writes():
    def old(generator_name, content_type, rng, *, thread=False):
        return generator_name
    assert write_with(old, "coach", "factual_single", np.random.default_rng(), thread=False, topic="naps",
                      hook="list") == "coach"
