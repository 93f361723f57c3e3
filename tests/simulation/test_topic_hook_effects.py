"""Topic and hook effects of a scenario (issue 17): validated like the rest, absent = 1.0, applied by the audience."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from xbot_assets.simulation import SCENARIOS_DIR, AudienceSimulator, Scenario, load_scenario

MINIMAL = {"name": "t", "content_types": {"a": 0.04, "b": 0.02}, "generators": {"g1": 1.0, "g2": 3.0}}
T0 = datetime(2026, 1, 1, 9, tzinfo=timezone.utc)


def test_absent_effects_are_one_and_shipped_scenarios_keep_their_fingerprints():
    sc = Scenario.from_dict(MINIMAL)
    assert sc.topic_effects == {} and sc.hook_effects == {}
    assert sc.topic_effect("sleep", "engagement") == 1.0 and sc.hook_effect(None, "follows") == 1.0
    assert sc.best_topic() is None and sc.best_hook() is None
    assert "topic_effects" not in sc.to_dict() and "hook_effects" not in sc.to_dict()
    # The fingerprints of the scenarios shipped before topic and hook effects existed (the simulator cache key).
    assert {n: load_scenario(n).fingerprint() for n in ("default", "drift", "hidden_gem")} == {
        "default": "9c73e6e39199b044", "drift": "6b7d4ef8c2433e2d", "hidden_gem": "f36bb6f238bec938"}


def test_effects_parse_default_to_one_and_round_trip():
    sc = Scenario.from_dict({**MINIMAL, "topic_effects": {"sleep": {"engagement": 1.5}, "fiber": {"follows": 0.5}},
                             "hook_effects": {"surprising number": {"engagement": 1.2, "follows": 1.3}}})
    assert sc.topic_effects == {"sleep": {"engagement": 1.5, "follows": 1.0},
                                "fiber": {"engagement": 1.0, "follows": 0.5}}
    assert sc.topic_effect("walking", "engagement") == 1.0  # not listed
    assert sc.best_topic() == "sleep" and sc.best_topic("follows") == "sleep"
    assert sc.best_hook() == "surprising number"
    assert Scenario.from_dict(sc.to_dict()) == sc
    assert sc.fingerprint() != Scenario.from_dict(MINIMAL).fingerprint()


@pytest.mark.parametrize(("effects", "needle"), [
    ({"topic_effects": ["sleep"]}, "topic_effects"),
    ({"topic_effects": {"sleep": 1.5}}, "topic_effects.sleep"),
    ({"topic_effects": {"sleep": {"engagment": 1.5}}}, "topic_effects.sleep.engagment"),
    ({"topic_effects": {"sleep": {"engagement": 0}}}, "topic_effects.sleep.engagement"),
    ({"topic_effects": {"sleep": {"follows": -1}}}, "topic_effects.sleep.follows"),
    ({"hook_effects": {"story": {"engagement": "high"}}}, "hook_effects.story.engagement"),
    ({"hook_effects": {7: {"engagement": 1.1}}}, "hook_effects.7"),
])
def test_effect_validation_names_the_bad_key(effects, needle):
    with pytest.raises(ValueError) as exc:
        Scenario.from_dict({**MINIMAL, **effects})
    assert f"'{needle}'" in str(exc.value)


def test_topic_hook_scenario_names_a_best_topic_and_hook_of_the_planners_arms():
    from xbot_assets.acting.generators.offline import TOPICS
    from xbot_assets.ingest.hooks import HOOK_TYPES

    sc = Scenario.from_yaml(SCENARIOS_DIR / "topic_hook.yaml")
    assert set(sc.topic_effects) == {t[0] for t in TOPICS} and set(sc.hook_effects) == set(HOOK_TYPES)
    assert sc.best_topic() == sc.best_topic("follows") == "sleep"
    assert sc.best_hook() == sc.best_hook("follows") == "surprising number"


def _publish_all(sim: AudienceSimulator, **arms):
    for i in range(60):
        sim.publish(f"d{i}", i, T0 + timedelta(hours=6 * i), "a", "g2", 0.7, **arms)
    return sim.posts


def test_the_audience_applies_the_multipliers_to_the_true_er_and_follows():
    effects = {"topic_effects": {"sleep": {"engagement": 1.5, "follows": 2.0}},
               "hook_effects": {"list": {"engagement": 0.5, "follows": 0.25}}}
    plain = AudienceSimulator(Scenario.from_dict(MINIMAL), seed=5)
    sim = AudienceSimulator(Scenario.from_dict({**MINIMAL, **effects}), seed=5)
    base = _publish_all(plain)
    best = _publish_all(AudienceSimulator(sim.scenario, seed=5), topic_arm="sleep")
    both = _publish_all(AudienceSimulator(sim.scenario, seed=5), topic_arm="sleep", hook="list")
    other = _publish_all(AudienceSimulator(sim.scenario, seed=5), topic_arm="walking", hook="story")
    for b, s, x, o in zip(base, best, both, other, strict=True):
        assert s.true_er == pytest.approx(b.true_er * 1.5) and s.true_f_per_1k == pytest.approx(b.true_f_per_1k * 2)
        assert x.true_er == pytest.approx(b.true_er * 0.75) and x.true_f_per_1k == pytest.approx(b.true_f_per_1k * .5)
        assert s.impressions == b.impressions  # effects change engagement and follows, never the reach
        assert s.engagements >= b.engagements and s.follows >= b.follows  # common random numbers: monotone
        assert (o.true_er, o.follows, o.likes) == (b.true_er, b.follows, b.likes)  # unlisted arms: 1.0
        assert (s.topic_arm, s.hook, b.topic_arm) == ("sleep", None, None)
    assert sum(p.follows for p in best) > 1.5 * sum(p.follows for p in base)
    # The helpers see the same truth.
    assert sim.expected_er("a", 9, 0.7, topic="sleep", hook="list") == pytest.approx(0.04 * 0.75)


def test_without_effects_the_arms_change_nothing():
    sc = load_scenario("default")
    plain, tagged = AudienceSimulator(sc, seed=3), AudienceSimulator(sc, seed=3)
    for i in range(40):
        args = (f"d{i}", i, T0 + timedelta(hours=5 * i), "myth_busting", "dataNerd", 0.65 + (i % 4) / 20)
        plain.publish(*args)
        tagged.publish(*args, topic_arm="sleep", hook="story")
    for p, t in zip(plain.posts, tagged.posts, strict=True):
        assert {**t.to_dict(), "topic_arm": None, "hook": None} == p.to_dict()


def test_success_probability_matches_the_content_arms():
    sim = AudienceSimulator(load_scenario("default"))
    probs = sim.content_success_probs(hour=14, quality=0.7, n_grid=32)
    for content_type, p in probs.items():
        assert sim.success_probability(sim.expected_er(content_type, 14, 0.7), 14) == pytest.approx(p, abs=1e-12)
    assert sim.success_probability(0.0, 14) == 0.0
    assert sim.success_probability(0.06, 14) > sim.success_probability(0.04, 14)
