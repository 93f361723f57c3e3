"""The planner's gates, limits and propensities (pure: no database)."""

from collections import Counter
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from xbot_assets.acting.generators.offline import Draft
from xbot_assets.acting.planner import (
    DEFAULT_CONTENT_TYPES,
    ModelView,
    PlanningState,
    PlanSettings,
    free_slots,
    plan_day,
)
from xbot_assets.learning.content_arms import thompson_propensities
from xbot_assets.learning.generator_posterior import generator_posteriors, generator_propensities
from xbot_assets.learning.generator_weights import DEFAULT_WEIGHTS
from xbot_assets.learning.predictors import seed_default_models

NOW = datetime(2026, 3, 1, 0, 0)


def _state(trusted: bool = False, er_intercept: float | None = None, **overrides) -> PlanningState:
    ridge, logistic = seed_default_models(list(DEFAULT_CONTENT_TYPES))
    if er_intercept is not None:
        ridge = {**ridge, "intercept": er_intercept, "coefficients": {k: 0.0 for k in ridge["coefficients"]}}
    why = "trusted" if trusted else "seed default, not learned yet"
    state = PlanningState(
        content_arms=pd.DataFrame({"content_type": list(DEFAULT_CONTENT_TYPES), "alpha": [30.0, 2.0, 10.0, 5.0],
                                   "beta": [5.0, 20.0, 10.0, 10.0]}),
        timing_stats=pd.DataFrame({"hour": range(24), "plays": 0.0, "mean_reward": np.nan}),
        reward_scale=1.0,
        generator_weights=dict(DEFAULT_WEIGHTS),
        generator_posteriors=pd.DataFrame(),
        engagement=ModelView(ridge, trusted, why),
        follow=ModelView(logistic, False, "seed default, not learned yet"),
        recent_texts=[],
    )
    for key, value in overrides.items():
        setattr(state, key, value)
    return state


def _ids(at, i):
    return f"d-{at:%H%M}-{i}"


def test_candidates_carry_propensities_reasons_and_respect_the_hourly_cap():
    settings = PlanSettings(posts_per_day=30)
    candidates = plan_day(_state(), settings, NOW, np.random.default_rng(1), _ids)
    queued = [c for c in candidates if c.status == "queued"]
    assert len(queued) <= settings.max_posts_per_day == 24
    per_hour = Counter(c.scheduled_at.replace(minute=0) for c in queued)
    assert max(per_hour.values()) <= 2
    assert len({c.scheduled_at for c in queued}) == len(queued)  # two posts never share a slot
    for c in candidates:
        assert 0 < c.content_propensity <= 1 and 0 < c.generator_propensity <= 1 and 0 < c.timing_propensity <= 1
        assert c.reasons and c.scheduled_at >= NOW + timedelta(minutes=settings.lead_minutes)
        assert c.decision_id.startswith("d-")


def test_taken_slots_and_the_daily_target_are_honoured():
    taken = Counter({NOW + timedelta(hours=h): 1 for h in (9, 10, 11)})
    settings = PlanSettings(posts_per_day=4)
    candidates = plan_day(_state(taken=taken), settings, NOW, np.random.default_rng(2), _ids)
    assert sum(c.status == "queued" for c in candidates) <= 1
    slots = free_slots(NOW, PlanSettings(max_posts_per_hour=1), taken)
    assert 9 not in slots and all(len(v) == 1 for v in slots.values())


def test_threshold_gate_applies_only_to_trusted_models():
    settings = PlanSettings(posts_per_day=3)
    low = plan_day(_state(trusted=True, er_intercept=0.01), settings, NOW, np.random.default_rng(3), _ids)
    assert low and all(c.status == "skipped" for c in low)
    assert all("threshold gate: predicted ER" in c.skip_reason for c in low)
    untrusted = plan_day(_state(trusted=False, er_intercept=0.01), settings, NOW, np.random.default_rng(3), _ids)
    assert any(c.status == "queued" for c in untrusted)
    assert all(any("not gated: seed default" in r for r in c.reasons) for c in untrusted)


def test_quality_gate_rejects_and_retries_with_reasons():
    def junk(generator, content_type, rng, thread=False):
        return Draft("amazing!", "junk [offline]", generator, content_type, ())

    settings = PlanSettings(posts_per_day=1, attempts_per_slot=3)
    candidates = plan_day(_state(), settings, NOW, np.random.default_rng(4), _ids, generate=junk)
    assert len(candidates) == 3 and all(c.status == "skipped" for c in candidates)
    assert all(c.skip_reason.startswith("quality gate") for c in candidates)
    assert "attempt 3 of 3 for this slot" in candidates[-1].reasons


def test_static_policy_uses_fixed_hours_uniform_content_and_seed_weights():
    settings = PlanSettings(posts_per_day=4, policy="static")
    candidates = [c for c in plan_day(_state(), settings, NOW, np.random.default_rng(5), _ids) if c.status == "queued"]
    assert sorted({c.local_hour for c in candidates}) <= sorted(settings.fixed_hours())
    assert all(c.content_propensity == pytest.approx(0.25) for c in candidates)
    total = sum(DEFAULT_WEIGHTS.values())
    assert all(c.generator_propensity == pytest.approx(DEFAULT_WEIGHTS[c.generator_name] / total) for c in candidates)


def test_planning_is_deterministic_for_a_seed():
    settings = PlanSettings(posts_per_day=4)
    a = plan_day(_state(), settings, NOW, np.random.default_rng(9), _ids)
    b = plan_day(_state(), settings, NOW, np.random.default_rng(9), _ids)
    assert [(c.scheduled_at, c.content_type, c.generator_name, c.draft.text) for c in a] == \
           [(c.scheduled_at, c.content_type, c.generator_name, c.draft.text) for c in b]


def test_policy_propensities_sum_to_one():
    arms = _state().content_arms.assign(arm_name=lambda f: "content_" + f["content_type"])
    assert sum(thompson_propensities(arms, np.random.default_rng(0), 5000).values()) == pytest.approx(1.0)
    outcomes = pd.DataFrame({"generator_name": ["a", "a", "b"], "impressions": [900, 1100, 1000],
                             "followers_gained": [5.0, 6.0, 1.0], "posted_at": pd.Timestamp("2026-01-01")})
    posteriors = generator_posteriors(outcomes, ["a", "b", "c"])
    props = generator_propensities(posteriors, np.random.default_rng(0), 5000)
    assert sum(props.values()) == pytest.approx(1.0) and props["a"] > props["b"]


def test_posterior_policy_is_conjugate_and_centred_on_the_pooled_rate():
    outcomes = pd.DataFrame({"generator_name": ["a", "b"], "impressions": [1000, 1000],
                             "followers_gained": [6.0, 2.0], "posted_at": pd.Timestamp("2026-01-01")})
    post = generator_posteriors(outcomes, ["a", "b", "c"], prior_posts=1.0).set_index("generator_name")
    # the typical tried generator: (6 + 2) / 2 = 4 per 1000, with the weight of one average post (1000 impressions)
    assert post.loc["c", "shape"] == pytest.approx(4.0) and post.loc["c", "rate"] == pytest.approx(1.0)
    assert post.loc["a", "shape"] == pytest.approx(10.0) and post.loc["a", "rate"] == pytest.approx(2.0)
    assert post.loc["a", "posterior_mean"] == pytest.approx(5.0)


def test_links_are_gated_unless_the_account_allows_them():
    def linking(generator_name, content_type, rng, *, thread=False):
        text = "Our full sleep guide, with 12 studies and 3 charts: https://example.com/sleep-guide"
        return Draft(text, "sleep", generator_name, content_type, ())

    closed = plan_day(_state(), PlanSettings(posts_per_day=2), NOW, np.random.default_rng(6), _ids, generate=linking)
    assert closed and all(c.status == "skipped" and "link gate" in c.skip_reason for c in closed)
    opened = plan_day(_state(), PlanSettings(posts_per_day=2, allow_urls=True), NOW, np.random.default_rng(6), _ids,
                      generate=linking)
    assert opened and not any("link gate" in (c.skip_reason or "") for c in opened)


def test_weighted_length_counts_links_23_and_emoji_2():
    from xbot_assets.acting.text_features import weighted_length

    assert weighted_length("plain text") == 10
    assert weighted_length("read https://example.com/a-very-long-path?with=query") == 5 + 23
    assert weighted_length("sleep 😴") == 6 + 2 and weighted_length("睡眠") == 4
    assert weighted_length("em—dash ’quote’") == 15


def test_thread_parts_over_the_weighted_limit_are_gated():
    def long_thread(generator_name, content_type, rng, *, thread=False):
        parts = ("Sleep, part 1: 7 hours is the floor, not the goal.", "😴" * 141)
        return Draft(parts[0], "sleep", generator_name, content_type, parts)

    candidates = plan_day(_state(), PlanSettings(posts_per_day=1), NOW, np.random.default_rng(7), _ids,
                          generate=long_thread)
    assert candidates and all("length gate: thread part(s) 2" in c.skip_reason for c in candidates)


def test_every_decision_names_the_generator_version_and_model():
    from xbot_assets.acting.generators.offline import OFFLINE_VERSION

    [first, *_] = plan_day(_state(), PlanSettings(posts_per_day=1), NOW, np.random.default_rng(8), _ids)
    row = first.to_row("main", "simulated", NOW)
    assert row["generator_prompt_version"] == OFFLINE_VERSION and row["generator_model"] == "offline"
    assert OFFLINE_VERSION.startswith("offline@")


def test_the_profiles_banned_words_and_claims_are_gated():
    def writer(generator_name, content_type, rng, *, thread=False):
        text = "This miracle trick: 10 minutes of light at 7 am, and melatonin is harmless at any dose, says a study."
        return Draft(text, "sleep", generator_name, content_type, ())

    settings = PlanSettings(posts_per_day=1, banned_words=("Miracle", "cure"),
                            banned_claims=("Melatonin is harmless at any dose",))
    candidates = plan_day(_state(), settings, NOW, np.random.default_rng(9), _ids, generate=writer)
    assert candidates and all(c.status == "skipped" for c in candidates)
    reason = candidates[0].skip_reason
    assert "banned word 'Miracle'" in reason and "banned claim" in reason and "'cure'" not in reason


def _reading(document: dict, coefficients: dict[str, float]) -> dict:
    """A seed model that also reads the given choice one-hots, in raw units (mean 0, scale 1, missing 0)."""
    names = list(coefficients)
    return {**document, "feature_names": [*document["feature_names"], *names],
            "coefficients": {**document["coefficients"], **coefficients},
            "scaler_mean": {**document["scaler_mean"], **dict.fromkeys(names, 0.0)},
            "scaler_scale": {**document["scaler_scale"], **dict.fromkeys(names, 1.0)},
            "imputer_medians": {**document["imputer_medians"], **dict.fromkeys(names, 0.0)}}


def test_the_models_score_the_generator_topic_and_hook_the_slot_drew():
    """A model that reads the choice one-hots predicts from the candidate's own generator, topic arm and hook."""
    ridge, logistic = seed_default_models(list(DEFAULT_CONTENT_TYPES))
    lift = {"generator_dataNerd": 0.03, "hook_question": 0.01}
    state = _state(engagement=ModelView(_reading(ridge, lift), False, "hand-made"),
                   follow=ModelView(_reading(logistic, {"generator_dataNerd": 3.0}), False, "hand-made"))
    candidates = plan_day(state, PlanSettings(posts_per_day=24), NOW, np.random.default_rng(11), _ids)
    scored = [c for c in candidates if not np.isnan(c.predicted_er)]
    for c in scored:  # the seed ridge is 0.01 + 0.025 · quality
        expected = (0.01 + 0.025 * c.quality + lift["generator_dataNerd"] * (c.generator_name == "dataNerd")
                    + lift["hook_question"] * (c.hook == "question"))
        assert c.predicted_er == pytest.approx(expected)
    assert {c.generator_name == "dataNerd" for c in scored} == {True, False}
    assert {c.hook == "question" for c in scored} == {True, False}
    by_generator = {c.generator_name == "dataNerd": c.predicted_follow_prob for c in scored}
    assert by_generator[True] > 0.9 > by_generator[False]


def test_a_plan_estimates_each_posteriors_propensities_once():
    """The arms do not change while a day is planned: every candidate of the plan that made the same pick from the
    same posterior carries the same propensity (the Monte Carlo estimate is made once per distribution)."""
    posteriors = generator_posteriors(pd.DataFrame({
        "generator_name": ["dataNerd"] * 5 + ["coach"] * 5, "impressions": [1000] * 10,
        "followers_gained": [6] * 5 + [2] * 5, "posted_at": pd.Timestamp("2026-02-20")}), list(DEFAULT_WEIGHTS))
    state = _state(generator_posteriors=posteriors[["generator_name", "shape", "rate"]],
                   content_arms=pd.DataFrame({"content_type": list(DEFAULT_CONTENT_TYPES),
                                              "alpha": [6.0, 4.0, 5.0, 5.0], "beta": [5.0, 6.0, 5.0, 6.0]}))
    candidates = plan_day(state, PlanSettings(posts_per_day=24, generator_policy="posterior"), NOW,
                          np.random.default_rng(4), _ids)
    for column, value in (("content_type", "content_propensity"), ("generator_name", "generator_propensity"),
                          ("hook", "hook_propensity")):
        seen: dict[str, set[float]] = {}
        for c in candidates:
            seen.setdefault(getattr(c, column), set()).add(getattr(c, value))
        assert len(seen) > 1 and all(len(props) == 1 for props in seen.values()), (column, seen)
    # and the estimate is the policy's: the propensities of the picks seen sum to at most 1, the most likely near it
    generator_props = {c.generator_name: c.generator_propensity for c in candidates}
    assert sum(generator_props.values()) <= 1.0 + 1e-9
