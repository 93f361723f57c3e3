"""Generator weights: how often each content generator is picked, optimised for followers per 1,000 impressions.

Seed 004 and PRODUCT §5. The rules are the original's (tiers, 30% steps, 15% exploration, 2% floor, 20-post gate),
but the invariants it broke hold here and are tested (reference §7.9):

- weights always sum to 1 (the original boosted viral generators after normalising);
- locked and pinned generators keep their weight exactly (the original never read the lock);
- every active generator keeps at least the floor (failing ones are penalised, not removed);
- generators with too few posts are explored at a fair weight instead of decaying to the floor;
- a change from weight 0 has no percentage instead of a division by zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_WEIGHTS: dict[str, float] = {
    "humanVoice": 0.15,
    "newsReporter": 0.12,
    "storyteller": 0.12,
    "interesting": 0.10,
    "provocateur": 0.10,
    "dataNerd": 0.10,
    "mythBuster": 0.10,
    "coach": 0.08,
    "thoughtLeader": 0.05,
    "contrarian": 0.04,
    "explorer": 0.02,
    "philosopher": 0.02,
}

# Names in the performance data that are not generators anyone can pick, and so never get a weight or a posterior:
# the mart's name for posts without a generator, and the posts imported from the account's own history on X (the
# analytics export, ingest/x_exports.py writes them with this name) — those teach the content and timing arms and
# the models, not the generators.
UNATTRIBUTED_GENERATOR = "unknown"
IMPORTED_GENERATOR = "imported"
NOT_GENERATORS = (UNATTRIBUTED_GENERATOR, IMPORTED_GENERATOR)

ACTIVE = "active"
LOCKED = "locked"  # `xbot weights lock`: kept at the weight it had, until unlocked
PINNED = "pinned"  # `xbot weights set`: kept at the weight the operator gave it, until unlocked
DISABLED = "disabled"
STATUSES = (ACTIVE, LOCKED, PINNED, DISABLED)
# The optimiser never moves these: locked and pinned differ only in where their weight came from.
FIXED = (LOCKED, PINNED)

SUM_TOLERANCE = 1e-9
_CHANGE_EPSILON = 1e-12  # differences below this are float noise, not a change worth logging


def tier(f_per_1k: float | None, posts: int) -> str:
    """Performance tier from F/1K (seed 004): no_data, viral, excellent, good, average, poor or failing.

    Zero (or a net loss) is only 'failing' with at least 10 posts; with fewer it may be bad luck, so 'poor'.
    """
    if f_per_1k is None or (isinstance(f_per_1k, float) and math.isnan(f_per_1k)):
        return "no_data"
    if f_per_1k > 5:
        return "viral"
    if f_per_1k > 3:
        return "excellent"
    if f_per_1k > 1.5:
        return "good"
    if f_per_1k > 0.5:
        return "average"
    if f_per_1k > 0:
        return "poor"
    return "failing" if posts >= 10 else "poor"


@dataclass(frozen=True)
class OptimizerSettings:
    exploration: float = 0.15  # share of the scored generators' mass spread evenly, whatever their scores
    step: float = 0.30  # move 30% of the way to the target each cycle, so one lucky week cannot swing everything
    floor: float = 0.02  # no active generator drops below this
    min_posts_total: int = 20  # no optimisation before this many posts in the window
    min_posts_per_generator: int = 3  # fewer posts than this: explored at a fair weight, not scored
    viral_boost: float = 1.5
    failing_penalty: float = 0.5
    score_exponent: float = 1.3  # >1 sharpens the preference for the best generators

    def __post_init__(self) -> None:
        if not 0.0 <= self.exploration <= 1.0:
            raise ValueError(f"exploration must be within [0, 1], got {self.exploration}")
        if not 0.0 < self.step <= 1.0:
            raise ValueError(f"step must be within (0, 1], got {self.step}")
        if not 0.0 <= self.floor < 1.0:
            raise ValueError(f"floor must be within [0, 1), got {self.floor}")


@dataclass
class OptimizationResult:
    weights: dict[str, float]
    changes: list[dict[str, Any]]  # {generator, old_weight, new_weight, change_percent, reason}
    skipped_reason: str | None
    tiers: dict[str, str]
    top_performer: tuple[str, float] | None
    bottom_performer: tuple[str, float] | None
    posts_analysed: int
    details: dict[str, dict[str, Any]] = field(default_factory=dict)  # per generator: role, score, target, stepped

    @property
    def applied(self) -> bool:
        return self.skipped_reason is None


# ---------------------------------------------------------------------------------------------------------------------
# The projection both the optimiser and the manual override use


def project_to_floor(values: Sequence[float], total: float, floor: float) -> np.ndarray:
    """Rescale `values` proportionally to sum to `total` while keeping every entry ≥ `floor` (water-filling).

    Entries that would fall under the floor are pinned to it and the rest are rescaled over the remaining mass,
    repeating until nothing is under the floor. Pinned entries stay pinned, so this ends within len(values) rounds.
    """
    weights = np.maximum(np.asarray(values, dtype=float), 0.0)
    n = len(weights)
    if n == 0:
        if abs(total) > SUM_TOLERANCE:
            raise ValueError(f"no weights to carry a mass of {total}")
        return weights
    if total < floor * n - SUM_TOLERANCE:
        raise ValueError(f"a mass of {total:.4f} cannot give {n} generators the {floor} floor each")
    pinned = np.zeros(n, dtype=bool)
    while True:
        free = ~pinned
        if not free.any():
            break
        remaining = total - floor * pinned.sum()
        free_sum = weights[free].sum()
        # Shares first, then mass: dividing by a tiny free_sum first could overflow.
        weights[free] = weights[free] / free_sum * remaining if free_sum > 0 else remaining / free.sum()
        weights[pinned] = floor
        under = free & (weights < floor)
        if not under.any():
            break
        pinned |= under
    return weights


# ---------------------------------------------------------------------------------------------------------------------
# Inputs


@dataclass
class _Generator:
    name: str
    status: str
    stored_weight: float | None  # the weight in the table now; None when the generator has no row yet
    posts: int = 0
    impressions: float = 0.0
    f_per_1k: float | None = None


def _read_current(current: pd.DataFrame) -> dict[str, _Generator]:
    if current.empty:
        # No weights stored yet: the seed defaults are the weights in use (PRODUCT §5 "fallback to defaults").
        return {name: _Generator(name, ACTIVE, weight) for name, weight in DEFAULT_WEIGHTS.items()}
    names = current["generator_name"].astype(str)
    if names.duplicated().any():
        raise ValueError(f"current weights list a generator twice: {sorted(set(names[names.duplicated()]))}")
    generators = {}
    for name, weight, status in zip(names, current["weight"], current["status"], strict=True):
        if status not in STATUSES:
            raise ValueError(f"generator {name} has status {status!r}; expected one of {STATUSES}")
        stored = None if pd.isna(weight) else float(weight)
        if stored is not None and not 0.0 <= stored <= 1.0:
            raise ValueError(f"generator {name} has weight {stored}, outside [0, 1]")
        if status in FIXED and stored is None:
            raise ValueError(f"{status} generator {name} has no weight to keep")
        generators[name] = _Generator(name, status, stored)
    return generators


def _f_per_1k(row: pd.Series) -> float | None:
    impressions = row.get("impressions")
    if impressions is None or pd.isna(impressions) or impressions <= 0:
        return None  # no impressions: no evidence either way, which is not the same as zero followers
    value = row.get("f_per_1k")
    if value is None or pd.isna(value):
        return float(row["followers_gained"]) / float(impressions) * 1000.0
    return float(value)


def _merge_performance(generators: dict[str, _Generator], performance: pd.DataFrame) -> None:
    performance = performance[~performance["generator_name"].astype(str).isin(NOT_GENERATORS)]
    names = performance["generator_name"].astype(str)
    if names.duplicated().any():
        raise ValueError(f"performance lists a generator twice: {sorted(set(names[names.duplicated()]))}")
    for name, (_, row) in zip(names, performance.iterrows(), strict=True):
        generator = generators.setdefault(name, _Generator(name, ACTIVE, None))
        generator.posts = 0 if pd.isna(row["posts"]) else int(row["posts"])
        generator.impressions = 0.0 if pd.isna(row.get("impressions")) else float(row["impressions"])
        generator.f_per_1k = _f_per_1k(row)


def _performers(generators: dict[str, _Generator], min_posts: int) -> tuple[tuple | None, tuple | None]:
    ranked = [(g.name, g.f_per_1k) for g in generators.values() if g.f_per_1k is not None and g.posts >= min_posts]
    if not ranked:
        return None, None
    top = max(ranked, key=lambda item: item[1])  # max/min keep the first of equals: input order breaks ties
    bottom = min(ranked, key=lambda item: item[1])
    return top, bottom


# ---------------------------------------------------------------------------------------------------------------------
# The optimiser


def _scores(scored: list[_Generator], tiers: dict[str, str], settings: OptimizerSettings) -> dict[str, float]:
    """F/1K normalised to [0, 1] across the scored generators, sharpened, boosted or penalised, then floored.

    Boost and penalty act on scores BEFORE they become weights, so the weights still sum to 1 afterwards.
    """
    values = [g.f_per_1k for g in scored]
    low, high = min(values), max(values)
    scores = {}
    for g in scored:
        normalised = 0.5 if high == low else (g.f_per_1k - low) / (high - low)
        score = normalised**settings.score_exponent
        if tiers[g.name] == "viral":
            score *= settings.viral_boost
        if tiers[g.name] == "failing":
            score *= settings.failing_penalty
        scores[g.name] = max(score, 0.01)  # even the worst keeps a share of the exploitation mass
    return scores


def _fmt_step(step: float) -> str:
    return f"{step * 100:.0f}%"


def optimize_weights(
    performance: pd.DataFrame,
    current: pd.DataFrame,
    settings: OptimizerSettings = OptimizerSettings(),
) -> OptimizationResult:
    """One optimisation cycle over the 7-day performance table (see the module docstring for the invariants).

    performance: generator_name, posts, impressions, followers_gained, f_per_1k.
    current: generator_name, weight, status ∈ {active, locked, disabled}; empty means the seed defaults.
    Raises ValueError when the locked generators leave less than floor × (number of active generators), even
    when the cycle would be skipped for lack of data: a configuration that cannot hold the floor is wrong either way.
    """
    generators = _read_current(current)
    _merge_performance(generators, performance)

    locked_mass = sum(g.stored_weight for g in generators.values() if g.status in FIXED)
    active = [g for g in generators.values() if g.status == ACTIVE]
    free_mass = 1.0 - locked_mass
    if not active and abs(free_mass) > SUM_TOLERANCE:
        raise ValueError(
            f"no active generator to carry the {free_mass:.4f} of weight the locked and pinned ones leave; unlock or "
            "enable one"
        )
    if free_mass < settings.floor * len(active) - SUM_TOLERANCE:
        raise ValueError(
            f"locked and pinned generators hold {locked_mass:.4f} of the weight, leaving {free_mass:.4f} for "
            f"{len(active)} active"
            f" generators, less than the {settings.floor} floor each ({settings.floor * len(active):.4f}); "
            "unlock some or lower their weights"
        )

    tiers = {g.name: tier(g.f_per_1k, g.posts) for g in generators.values()}
    top, bottom = _performers(generators, settings.min_posts_per_generator)
    posts_analysed = int(sum(g.posts for g in generators.values()))
    in_use = {g.name: g.stored_weight if g.stored_weight is not None else 0.0 for g in generators.values()}

    if posts_analysed < settings.min_posts_total:
        return OptimizationResult(
            weights={name: w for name, w in in_use.items() if generators[name].stored_weight is not None},
            changes=[],
            skipped_reason=f"insufficient data: {posts_analysed} posts < {settings.min_posts_total}",
            tiers=tiers,
            top_performer=top,
            bottom_performer=bottom,
            posts_analysed=posts_analysed,
        )

    fair = free_mass / len(active) if active else 0.0
    # Where each active generator starts this cycle: its stored weight, or (no row / no weight yet) the seed default,
    # or the fair share for a generator the seed never knew.
    start = {
        g.name: g.stored_weight if g.stored_weight is not None else DEFAULT_WEIGHTS.get(g.name, fair) for g in active
    }

    # Too few posts, or no impressions to divide by: not enough evidence to score, so explore at the fair weight.
    exploring = [g for g in active if g.posts < settings.min_posts_per_generator or g.f_per_1k is None]
    exploring_names = {g.name for g in exploring}
    scored = [g for g in active if g.name not in exploring_names]

    new_weights: dict[str, float] = {}
    details: dict[str, dict[str, Any]] = {}
    reasons: dict[str, str] = {}

    for g in generators.values():
        if g.status in FIXED:
            new_weights[g.name] = g.stored_weight  # exactly as stored: never touched by the optimiser
        elif g.status == DISABLED:
            new_weights[g.name] = 0.0
            reasons[g.name] = "disabled: weight set to 0"

    for g in exploring:
        new_weights[g.name] = fair
        details[g.name] = {"role": "exploring", "start": start[g.name], "target": fair}
        if g.f_per_1k is None and g.posts >= settings.min_posts_per_generator:
            why = f"no impression data over {g.posts} posts"
        else:
            why = f"exploring: {g.posts} posts < {settings.min_posts_per_generator}"
        reasons[g.name] = f"{why}: fair weight {fair:.3f}"

    if scored:
        scored_mass = free_mass - fair * len(exploring)
        scores = _scores(scored, tiers, settings)
        score_total = sum(scores.values())
        k = len(scored)
        targets = {
            g.name: scored_mass * ((1 - settings.exploration) * scores[g.name] / score_total + settings.exploration / k)
            for g in scored
        }
        stepped = {g.name: start[g.name] + settings.step * (targets[g.name] - start[g.name]) for g in scored}
        projected = project_to_floor([stepped[g.name] for g in scored], scored_mass, settings.floor)
        for g, weight in zip(scored, projected, strict=True):
            new_weights[g.name] = float(weight)
            details[g.name] = {
                "role": "scored",
                "score": scores[g.name],
                "start": start[g.name],
                "target": targets[g.name],
                "stepped": stepped[g.name],
            }
            adjustment = ""
            if tiers[g.name] == "viral":
                adjustment = f" (×{settings.viral_boost} viral boost)"
            elif tiers[g.name] == "failing":
                adjustment = f" (×{settings.failing_penalty} failing penalty)"
            reason = (
                f"tier {tiers[g.name]}{adjustment}, F/1K {g.f_per_1k:.2f} over {g.posts} posts: "
                f"target {targets[g.name]:.3f}, stepped {_fmt_step(settings.step)} from {start[g.name]:.3f}"
            )
            if abs(weight - settings.floor) <= _CHANGE_EPSILON:
                reason += f", held at the {settings.floor:.3f} floor"
            elif abs(weight - stepped[g.name]) > 5e-4:
                reason += f", rescaled to {weight:.3f} so the weights sum to 1"
            reasons[g.name] = reason

    new_weights = {name: new_weights[name] for name in generators}  # input order, for readable tables and logs
    changes = []
    for name, new in new_weights.items():
        old = in_use[name]
        if abs(new - old) <= _CHANGE_EPSILON:
            continue
        reason = reasons.get(name, "")
        if generators[name].stored_weight is None:
            reason = f"new generator (no stored weight); {reason}"
        changes.append(
            {
                "generator": name,
                "old_weight": old,
                "new_weight": new,
                "change_percent": None if old == 0 else (new - old) / old * 100.0,
                "reason": reason,
            }
        )

    return OptimizationResult(
        weights=new_weights,
        changes=changes,
        skipped_reason=None,
        tiers=tiers,
        top_performer=top,
        bottom_performer=bottom,
        posts_analysed=posts_analysed,
        details=details,
    )


# ---------------------------------------------------------------------------------------------------------------------
# Manual override


def set_manual_weight(current: pd.DataFrame, generator: str, weight: float, floor: float = 0.02) -> dict[str, float]:
    """Set one generator's weight exactly; the other active generators absorb the difference proportionally.

    Locked and pinned generators keep their weight, disabled ones stay 0, and no active generator goes under the
    floor. The generator may be active, locked or pinned (an operator may move a kept weight explicitly), not disabled.
    Raises ValueError when `weight` is outside [floor, 1 − locked − floor × other active generators].
    """
    generators = _read_current(current)
    if generator not in generators:
        raise ValueError(f"unknown generator {generator!r}")
    target = generators[generator]
    if target.status == DISABLED:
        raise ValueError(f"generator {generator} is disabled; enable it before giving it a weight")

    locked_mass = sum(g.stored_weight for g in generators.values() if g.status in FIXED and g.name != generator)
    others = [g for g in generators.values() if g.status == ACTIVE and g.name != generator]
    upper = 1.0 - locked_mass - floor * len(others)
    if not others:
        # Nobody can absorb the difference, so only the weight that completes the sum is possible.
        if abs(weight - (1.0 - locked_mass)) > SUM_TOLERANCE:
            raise ValueError(
                f"{generator} is the only adjustable generator; its weight must be {1.0 - locked_mass:.4f}"
            )
    elif not floor - SUM_TOLERANCE <= weight <= upper + SUM_TOLERANCE:
        raise ValueError(
            f"weight {weight} for {generator} is infeasible: it must lie within [{floor}, {upper:.4f}] "
            f"(locked and pinned generators hold {locked_mass:.4f}, {len(others)} other active generators need {floor} "
            "each)"
        )

    rest = project_to_floor(
        [g.stored_weight if g.stored_weight is not None else 0.0 for g in others], 1.0 - locked_mass - weight, floor
    )
    result = {}
    adjusted = dict(zip((g.name for g in others), rest, strict=True))
    for g in generators.values():
        if g.name == generator:
            result[g.name] = float(weight)
        elif g.status in FIXED:
            result[g.name] = g.stored_weight
        elif g.status == DISABLED:
            result[g.name] = 0.0
        else:
            result[g.name] = float(adjusted[g.name])
    return result
