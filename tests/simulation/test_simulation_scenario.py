"""Scenario files: loading, the shipped scenarios' truths, drift, validation errors."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest
import yaml

from xbot_assets.simulation import SCENARIOS_DIR, Scenario, load_scenario

GENERATORS = {"humanVoice", "newsReporter", "storyteller", "interesting", "provocateur", "dataNerd", "mythBuster",
              "coach", "thoughtLeader", "contrarian", "explorer", "philosopher"}
SEED_WEIGHTS = {"humanVoice": .15, "newsReporter": .12, "storyteller": .12, "interesting": .10, "provocateur": .10,
                "dataNerd": .10, "mythBuster": .10, "coach": .08, "thoughtLeader": .05, "contrarian": .04,
                "explorer": .02, "philosopher": .02}
CONTENT_TYPES = {"educational_thread", "factual_single", "myth_busting", "wellness_tip"}

MINIMAL = {
    "name": "t",
    "content_types": {"a": 0.04, "b": 0.02},
    "generators": {"g1": 1.0, "g2": 3.0},
}


@pytest.mark.parametrize("name", ["default", "hidden_gem", "drift"])
def test_shipped_scenarios_load_with_all_generators_and_content_types(name):
    sc = Scenario.from_yaml(SCENARIOS_DIR / f"{name}.yaml")
    assert sc.name == name
    assert set(sc.generators) == GENERATORS
    assert set(sc.content_types) == CONTENT_TYPES
    # PRODUCT §7 keys are all spelled out in the files.
    raw = yaml.safe_load((SCENARIOS_DIR / f"{name}.yaml").read_text())
    for key in ("name", "seed", "start", "timezone", "followers", "posts_per_day", "impressions", "content_types",
                "hour_multiplier", "quality_effect", "generators", "drift"):
        assert key in raw, key
    assert Scenario.from_dict(sc.to_dict()) == sc  # round trip


def test_default_matches_product_example():
    sc = load_scenario("default")
    assert sc.seed == 7 and sc.followers == 1200 and sc.posts_per_day == 4
    assert (sc.impressions_median, sc.impressions_sigma) == (900, 0.8)
    assert sc.content_types["educational_thread"] == 0.045
    assert sc.hour_multiplier == {9: 1.1, 14: 1.4, 18: 1.3, 22: 0.7}
    assert sc.quality_effect == 0.025
    assert sc.start == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert sc.drift == ()


def test_hidden_gem_best_generator_has_lowest_seed_weight():
    sc = load_scenario("hidden_gem")
    t = sc.truth_at(0)
    best = t.best_generator()
    assert SEED_WEIGHTS[best] == min(SEED_WEIGHTS.values())
    others = [v for g, v in t.generators.items() if g != best]
    assert all(0.5 <= v <= 2.0 for v in others)
    assert t.generators[best] >= 2 * max(others)


def test_drift_switches_truths_on_the_given_day():
    sc = load_scenario("drift")
    before, after = sc.truth_at(29), sc.truth_at(30)
    assert before.best_generator() != after.best_generator()
    assert before.best_content_type() != after.best_content_type()
    assert sc.truth_at(0).generators == sc.generators and sc.truth_at(0).content_types == sc.content_types
    assert sc.truth_at(90).generators == after.generators
    # names not listed in the event keep their truth
    assert after.generators["coach"] == before.generators["coach"]
    assert sc.day_of(datetime(2026, 1, 30, 23, 59, tzinfo=timezone.utc)) == 29
    assert sc.day_of(datetime(2026, 1, 31, 0, 0, tzinfo=timezone.utc)) == 30


def test_defaults_and_string_hours():
    sc = Scenario.from_dict({**MINIMAL, "hour_multiplier": {"14": 1.5, 3: 0.5}})
    assert sc.hour_multiplier == {14: 1.5, 3: 0.5}
    assert sc.hour_mult(14) == 1.5 and sc.hour_mult(15) == 1.0
    assert sc.timezone == "UTC" and sc.organic_followers_per_day == 2.0
    assert abs(sum(sc.engagement_split.values()) - 1.0) < 1e-12


def _with(path: str, value):
    d = copy.deepcopy(MINIMAL)
    keys = path.split(".")
    cur = d
    for k in keys[:-1]:
        cur = cur.setdefault(k, {})
    cur[keys[-1]] = value
    return d


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({**MINIMAL, "colour": "red"}, "colour"),
        ({k: v for k, v in MINIMAL.items() if k != "generators"}, "generators"),
        (_with("content_types.a", 1.2), "content_types.a"),
        (_with("content_types.b", -0.01), "content_types.b"),
        (_with("content_types.b", "high"), "content_types.b"),
        (_with("generators.g1", -0.5), "generators.g1"),
        ({**MINIMAL, "hour_multiplier": {24: 1.2}}, "hour_multiplier.24"),
        ({**MINIMAL, "hour_multiplier": {"-1": 1.2}}, "hour_multiplier.-1"),
        ({**MINIMAL, "hour_multiplier": {"noon": 1.2}}, "hour_multiplier.noon"),
        ({**MINIMAL, "hour_multiplier": {9: 0}}, "hour_multiplier.9"),
        ({**MINIMAL, "impressions": {"median": 0, "sigma": 0.5}}, "impressions.median"),
        ({**MINIMAL, "impressions": {"median": 900, "sgima": 0.5}}, "impressions.sgima"),
        ({**MINIMAL, "timezone": "Mars/Olympus"}, "timezone"),
        ({**MINIMAL, "start": "yesterday"}, "start"),
        ({**MINIMAL, "seed": True}, "seed"),
        ({**MINIMAL, "followers": -3}, "followers"),
        ({**MINIMAL, "engagement_half_life_hours": 0}, "engagement_half_life_hours"),
        ({**MINIMAL, "profile_click_rate": -0.002}, "profile_click_rate"),
        ({**MINIMAL, "engagement_split": {"likes": 1, "hearts": 1}}, "engagement_split.hearts"),
        ({**MINIMAL, "drift": [{"day": 5, "generators": {"nobody": 2.0}}]}, "drift[0].generators.nobody"),
        ({**MINIMAL, "drift": [{"day": 5, "content_types": {"a": 2.0}}]}, "drift[0].content_types.a"),
        ({**MINIMAL, "drift": [{"day": 5, "weather": {}}]}, "drift[0].weather"),
        ({**MINIMAL, "drift": [{"generators": {"g1": 2.0}}]}, "drift[0].day"),
        ({**MINIMAL, "drift": [{"day": 5}, {"day": 5}]}, "drift"),
        ({**MINIMAL, "drift": {"day": 5}}, "drift"),
    ],
)
def test_validation_errors_name_the_bad_key(data, needle):
    with pytest.raises(ValueError) as exc:
        Scenario.from_dict(data)
    assert f"'{needle}'" in str(exc.value)


def test_from_yaml_error_names_the_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: bad\ncontent_types: {a: 2}\ngenerators: {g: 1}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*content_types\.a"):
        Scenario.from_yaml(p)


def test_load_scenario_unknown_name():
    with pytest.raises(FileNotFoundError, match="default"):
        load_scenario("no_such_scenario")
