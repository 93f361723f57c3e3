"""How much an outcome of a given age still counts: a fixed half-life, or a schedule of the half-lives chosen day by
day (learning/forgetting.py).

A fixed half-life weighs an outcome `a` days old by 0.5 ** (a / h). A schedule is the same discount applied one day at
a time with the half-life each day had: the weight is 0.5 ** (∫ dt / h(t)) over the days from the outcome to now. The
difference shows after an audience change. Recomputing all history with today's half-life brings old evidence back as
soon as the chooser returns to a long memory: measured on a drift log (seed 13), the generator posterior chose 7 days
on day 38–40, eight days after the change, and 28 days again on day 42–48, when the old winner's outcomes from before
the change weighed up to 0.74 again and it led the posterior for another week. With the schedule, what a short memory
has discounted stays discounted, as in the recursive form of discounted Thompson sampling; when every day has the same
half-life the weights are exactly the fixed half-life's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_LN2 = math.log(2.0)


@dataclass(frozen=True)
class DecaySchedule:
    """`half_lives[k]` is the half-life of day k back from now (0: the day that ends now, k: the day ending k days
    before it; None: that day forgot nothing); days older than the schedule use `older`. With `restart_age`,
    outcomes older than that many days weigh nothing: a change point was found there (learning/change_points.py)."""

    half_lives: tuple[float | None, ...]
    older: float | None
    restart_age: float | None = None

    def __post_init__(self) -> None:
        if not self.half_lives:
            raise ValueError("a decay schedule needs at least one day")
        if any(h is not None and h <= 0 for h in (*self.half_lives, self.older)):
            raise ValueError(f"half-lives must be positive, got {self.half_lives} / {self.older}")

    @property
    def current(self) -> float | None:
        """The half-life of the newest day: what the learner forgets at now."""
        return self.half_lives[0]

    def weights(self, age_days: np.ndarray) -> np.ndarray:
        """0.5 ** (the half-lives elapsed over each age); ages below 0 count as 0."""
        rates = np.array([0.0 if h is None else 1.0 / h for h in self.half_lives])
        elapsed = np.concatenate([[0.0], np.cumsum(rates)])  # half-lives elapsed over the newest k days
        ages = np.clip(np.asarray(age_days, dtype=float), 0.0, None)
        days = len(rates)
        beyond = np.clip(ages - days, 0.0, None) * (0.0 if self.older is None else 1.0 / self.older)
        weights = np.exp(-_LN2 * (np.interp(np.minimum(ages, days), np.arange(days + 1), elapsed) + beyond))
        return weights if self.restart_age is None else np.where(ages > self.restart_age, 0.0, weights)


Decay = float | DecaySchedule | None  # a fixed half-life in days, a schedule, or None (never forget)


def current_half_life(decay: Decay) -> float | None:
    """The half-life in force now (what the tables and the metadata show)."""
    return decay.current if isinstance(decay, DecaySchedule) else decay


def decay_weights(age_days: np.ndarray, decay: float | DecaySchedule) -> np.ndarray:
    """The weight of outcomes `age_days` old (ages below 0 count as 0)."""
    if isinstance(decay, DecaySchedule):
        return decay.weights(age_days)
    if decay <= 0:
        raise ValueError(f"half_life_days must be positive, got {decay}")
    return 0.5 ** (np.clip(np.asarray(age_days, dtype=float), 0.0, None) / decay)
