"""Generator weights: one optimiser step checked number by number, tiers, gates, overrides, and the projection."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from xbot_assets.learning.generator_weights import (
    DEFAULT_WEIGHTS,
    OptimizerSettings,
    optimize_weights,
    project_to_floor,
    set_manual_weight,
    tier,
)


def current_table(rows: list[tuple[str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["generator_name", "weight", "status"])


def performance_table(rows: list[tuple[str, int, float, float]]) -> pd.DataFrame:
    """rows: (generator, posts, impressions, followers); F/1K = followers / impressions × 1000."""
    table = pd.DataFrame(rows, columns=["generator_name", "posts", "impressions", "followers_gained"])
    table["f_per_1k"] = table["followers_gained"] / table["impressions"].where(table["impressions"] > 0) * 1000
    return table


def test_defaults_are_the_seed_weights():
    assert len(DEFAULT_WEIGHTS) == 12
    assert sum(DEFAULT_WEIGHTS.values()) == pytest.approx(1.0, abs=1e-12)
    assert DEFAULT_WEIGHTS["humanVoice"] == 0.15 and DEFAULT_WEIGHTS["philosopher"] == 0.02


@pytest.mark.parametrize(
    ("f_per_1k", "posts", "expected"),
    [
        (None, 5, "no_data"),
        (float("nan"), 5, "no_data"),
        (5.01, 3, "viral"),
        (5.0, 3, "excellent"),
        (3.0, 3, "good"),
        (1.5, 3, "average"),
        (0.5, 3, "poor"),
        (0.01, 30, "poor"),
        (0.0, 9, "poor"),
        (0.0, 10, "failing"),
    ],
)
def test_tiers(f_per_1k, posts, expected):
    assert tier(f_per_1k, posts) == expected


def test_one_optimiser_step_by_hand():
    current = current_table(
        [("A", 0.30, "active"), ("B", 0.30, "active"), ("C", 0.20, "active"), ("L", 0.10, "locked"),
         ("D", 0.10, "disabled")]
    )  # fmt: skip
    performance = performance_table(
        [("A", 10, 1000, 6), ("B", 10, 2000, 6), ("C", 12, 3000, 0), ("D", 5, 1000, 9)]
    )  # F/1K: A 6.0 (viral), B 3.0 (good), C 0.0 with 12 posts (failing), D disabled
    result = optimize_weights(performance, current)

    assert result.applied and result.posts_analysed == 37  # ≥ 20: the optimiser runs
    assert result.tiers == {"A": "viral", "B": "good", "C": "failing", "L": "no_data", "D": "viral"}
    # Scores: F/1K normalised between min 0 and max 6 → A 1, B 0.5, C 0; then ^1.3 → 1, 0.4061262, 0;
    # boost and penalty before normalising: A ×1.5 → 1.5, C ×0.5 → 0 → floored at 0.01. Σs = 1.9161262.
    assert {g: result.details[g]["score"] for g in "ABC"} == pytest.approx({"A": 1.5, "B": 0.4061262, "C": 0.01})
    # Free mass = 1 − locked 0.10 = 0.90, all three active generators are scored (k = 3):
    # target = 0.90 × (0.85 · s/Σs + 0.15/3)
    #   A: 0.90 × (0.85 × 1.5/1.9161262 + 0.05)       = 0.6438645
    #   B: 0.90 × (0.85 × 0.4061262/1.9161262 + 0.05) = 0.2071430
    #   C: 0.90 × (0.85 × 0.01/1.9161262 + 0.05)      = 0.0489924   (targets sum to 0.90)
    assert {g: result.details[g]["target"] for g in "ABC"} == pytest.approx(
        {"A": 0.6438645, "B": 0.2071430, "C": 0.0489924}, abs=1e-7
    )
    # Step 30% toward the target: new = current + 0.3 × (target − current)
    #   A: 0.30 + 0.3 × 0.3438645 = 0.4031594
    #   B: 0.30 − 0.3 × 0.0928570 = 0.2721429
    #   C: 0.20 − 0.3 × 0.1510076 = 0.1546977   (sum 0.83)
    assert {g: result.details[g]["stepped"] for g in "ABC"} == pytest.approx(
        {"A": 0.4031594, "B": 0.2721429, "C": 0.1546977}, abs=1e-7
    )
    # Projection: nobody is under the 0.02 floor, so rescale by 0.90/0.83 to fill the free mass:
    #   A 0.4371607, B 0.2950947, C 0.1677445; locked L stays 0.10 exactly; disabled D becomes 0.
    assert result.weights == pytest.approx({"A": 0.4371607, "B": 0.2950947, "C": 0.1677445, "L": 0.10, "D": 0.0},
                                           abs=1e-7)
    assert result.weights["L"] == 0.10
    assert sum(result.weights.values()) == pytest.approx(1.0, abs=1e-12)

    changes = {c["generator"]: c for c in result.changes}
    assert set(changes) == {"A", "B", "C", "D"}  # L is locked: no change, no entry
    assert changes["A"]["old_weight"] == 0.30
    assert changes["A"]["change_percent"] == pytest.approx((0.4371607 - 0.30) / 0.30 * 100, abs=1e-4)
    assert changes["A"]["reason"] == (
        "tier viral (×1.5 viral boost), F/1K 6.00 over 10 posts: target 0.644, stepped 30% from 0.300, "
        "rescaled to 0.437 so the weights sum to 1"
    )
    assert changes["D"]["reason"] == "disabled: weight set to 0"
    assert result.top_performer == ("D", 9.0)  # performance is reported whatever the status
    assert result.bottom_performer == ("C", 0.0)


def test_reason_matches_the_documented_shape():
    current = current_table([("A", 0.10, "active"), ("B", 0.90, "active")])
    performance = performance_table([("A", 14, 1000, 3.42), ("B", 14, 1000, 1.0)])
    reason = next(c["reason"] for c in optimize_weights(performance, current).changes if c["generator"] == "A")
    assert re.fullmatch(r"tier excellent, F/1K 3\.42 over 14 posts: target 0\.\d{3}, stepped 30% from 0\.100.*",
                        reason)


def test_below_twenty_posts_nothing_changes():
    current = current_table([("A", 0.6, "active"), ("B", 0.4, "active")])
    result = optimize_weights(performance_table([("A", 12, 1000, 5), ("B", 7, 1000, 0)]), current)
    assert result.skipped_reason == "insufficient data: 19 posts < 20"
    assert not result.applied
    assert result.weights == {"A": 0.6, "B": 0.4} and result.changes == []


def test_no_stored_weights_fall_back_to_the_seed_defaults():
    empty = current_table([])
    assert optimize_weights(performance_table([]), empty).weights == DEFAULT_WEIGHTS


def test_generators_with_few_posts_are_explored_at_a_fair_weight():
    current = current_table([("A", 0.5, "active"), ("B", 0.3, "active"), ("C", 0.2, "locked"), ("N", 0.0, "active")])
    performance = performance_table([("A", 20, 2000, 4), ("B", 10, 2000, 2), ("N", 2, 100, 1)])
    result = optimize_weights(performance, current)
    fair = (1 - 0.2) / 3  # free mass over the three active generators
    assert result.weights["N"] == pytest.approx(fair)
    change = next(c for c in result.changes if c["generator"] == "N")
    assert change["change_percent"] is None  # from 0: no division by zero
    assert change["reason"] == "exploring: 2 posts < 3: fair weight 0.267"
    assert result.weights["A"] + result.weights["B"] == pytest.approx(2 * fair)


def test_new_generator_from_performance_starts_from_its_default_or_fair_weight():
    current = current_table([("humanVoice", 0.5, "active"), ("coach", 0.5, "active")])
    performance = performance_table(
        [("humanVoice", 10, 1000, 2), ("coach", 10, 1000, 1), ("philosopher", 5, 1000, 3), ("brandNew", 5, 1000, 0)]
    )
    result = optimize_weights(performance, current)
    assert result.details["philosopher"]["start"] == 0.02  # its seed default
    assert result.details["brandNew"]["start"] == pytest.approx(1 / 4)  # unknown to the seed: the fair weight
    changes = {c["generator"]: c for c in result.changes}
    assert changes["brandNew"]["old_weight"] == 0.0 and changes["brandNew"]["change_percent"] is None
    assert changes["brandNew"]["reason"].startswith(
        "new generator (no stored weight); tier poor, F/1K 0.00 over 5 posts: target 0.042, stepped 30% from 0.250"
    )
    assert sum(result.weights.values()) == pytest.approx(1.0, abs=1e-12)


def test_floor_holds_for_a_failing_generator():
    current = current_table([("A", 0.97, "active"), ("B", 0.03, "active")])
    performance = performance_table([("A", 30, 10_000, 60), ("B", 30, 10_000, 0)])
    settings = OptimizerSettings(exploration=0.0, step=1.0)  # jump straight to a target of ~0 for B
    result = optimize_weights(performance, current, settings)
    assert result.weights["B"] == pytest.approx(0.02)
    assert "held at the 0.020 floor" in next(c["reason"] for c in result.changes if c["generator"] == "B")


def test_locked_mass_leaving_too_little_is_an_error():
    current = current_table([("A", 0.97, "locked"), ("B", 0.02, "active"), ("C", 0.01, "active")])
    with pytest.raises(ValueError, match="less than the 0.02 floor each"):
        optimize_weights(performance_table([("B", 30, 1000, 3)]), current)


def test_optimiser_is_deterministic():
    current = pd.DataFrame(
        {"generator_name": list(DEFAULT_WEIGHTS), "weight": list(DEFAULT_WEIGHTS.values()), "status": "active"}
    )
    performance = performance_table([(name, 4 + i, 1000 + 100 * i, i % 5) for i, name in enumerate(DEFAULT_WEIGHTS)])
    first, second = optimize_weights(performance, current), optimize_weights(performance, current)
    assert first == second


# ---------------------------------------------------------------------------------------------------------------------
# Manual override and projection


def test_manual_weight_rescales_the_other_active_generators():
    current = current_table(
        [("A", 0.40, "active"), ("B", 0.30, "active"), ("C", 0.10, "active"), ("L", 0.20, "locked"),
         ("D", 0.0, "disabled")]
    )  # fmt: skip
    weights = set_manual_weight(current, "A", 0.50)
    # B and C share 1 − 0.20 locked − 0.50 = 0.30 in their old 3:1 proportion → 0.225 and 0.075.
    assert weights == pytest.approx({"A": 0.50, "B": 0.225, "C": 0.075, "L": 0.20, "D": 0.0})
    assert weights["A"] == 0.50 and weights["L"] == 0.20


def test_manual_weight_keeps_the_floor():
    current = current_table([("A", 0.40, "active"), ("B", 0.59, "active"), ("C", 0.01, "active")])
    weights = set_manual_weight(current, "A", 0.90)
    # Proportional shares of 0.10 would give C 0.0017 < floor: C is pinned to 0.02 and B gets 0.08.
    assert weights == pytest.approx({"A": 0.90, "B": 0.08, "C": 0.02})


@pytest.mark.parametrize("weight", [0.01, 0.75])
def test_manual_weight_outside_the_feasible_range_is_an_error(weight):
    current = current_table([("A", 0.4, "active"), ("B", 0.3, "active"), ("L", 0.3, "locked")])
    # Feasible range for A: [0.02, 1 − 0.3 − 0.02] = [0.02, 0.68].
    with pytest.raises(ValueError, match="infeasible"):
        set_manual_weight(current, "A", weight)


def test_manual_weight_rejects_unknown_and_disabled_generators():
    current = current_table([("A", 1.0, "active"), ("D", 0.0, "disabled")])
    with pytest.raises(ValueError, match="unknown generator"):
        set_manual_weight(current, "Z", 0.5)
    with pytest.raises(ValueError, match="disabled"):
        set_manual_weight(current, "D", 0.5)


def test_projection_pins_small_weights_to_the_floor():
    # 0.01 and 0.005 are pinned to 0.02 each; the rest of the mass (0.96) goes to the first.
    assert project_to_floor([0.5, 0.01, 0.005], 1.0, 0.02).tolist() == pytest.approx([0.96, 0.02, 0.02])
    # Pinning can cascade: raising 0.0 to the floor shrinks the others, which pushes 0.0205 under it (0.0198).
    assert project_to_floor([0.6, 0.0205, 0.0], 0.6205, 0.02).tolist() == pytest.approx([0.5805, 0.02, 0.02])
    assert project_to_floor([0.0, 0.0], 0.5, 0.02).tolist() == pytest.approx([0.25, 0.25])
