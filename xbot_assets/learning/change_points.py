"""When the audience changed: a generalized likelihood-ratio test for a step in one arm's follow rate, and the
restart it triggers for every arm (issue 14).

Forgetting by half-life (learning/forgetting.py) notices a change from the outcomes the policy still collects. After
an audience change the policy moves to the best arm it knows; when that arm did not change, everything it sees is
consistent with the long memory, and the arm that became the best is tried only as fast as its old evidence fades.
Measured on the generator bandit of the drift scenario (`benchmarks/drift_restart.py`, 40 seeds), the share of the
oracle in the ten days 10–19 after the change stayed under 0.8 on 52 % of seeds (2 % with the restart).

A change in the arm the policy played most shows within days: dataNerd falling from 3.4 to 1.0 F/1K at four posts a
day is found on the third morning after the change (median of 200 seeded histories). So each arm's outcomes, in time order, are tested for
one step in a Poisson rate (followers over exposure): the statistic is the best split's log-likelihood gain over one
rate, and a step is declared when it exceeds ln(3 n^1.5 / δ) for the arm's n outcomes (the threshold of the GLR
change detector of Besson & Kaufmann, "Efficient change-point detection for tackling piecewise-stationary bandits",
JMLR 2022), δ = 0.05. Because an audience change moves many arms at once, a step in any arm restarts every arm
("global restart" in that paper): the evidence from before the step is forgotten, so the arms the policy left
behind start again from the prior and are tried again. The scan repeats on the outcomes after the latest step, so
the newest change wins and a second change is found too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# δ of the threshold ln(3 n^1.5 / δ): the detector's false-alarm budget per arm.
FALSE_ALARM_RATE = 0.05
# Each side of a step holds at least this many outcomes of the arm (a day of posts): a rate read from fewer is
# noise, and the step's place is uncertain by about as much anyway.
MIN_OUTCOMES_EACH_SIDE = 4


def threshold(n: int, delta: float = FALSE_ALARM_RATE) -> float:
    """ln(3 n^1.5 / δ): the log-likelihood gain a step in `n` outcomes must exceed."""
    return float(np.log(3.0 * n ** 1.5 / delta))


def _poisson_fit(count: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    """The maximised Poisson log likelihood Y ln(Y / E) − Y of total `count` over total `exposure` (terms that do
    not depend on the rate left out; 0 ln 0 = 0)."""
    safe_count = np.where(count > 0, count, 1.0)
    safe_exposure = np.where(exposure > 0, exposure, 1.0)
    return np.where(count > 0, count * np.log(safe_count / safe_exposure), 0.0) - count


def poisson_step(counts: np.ndarray, exposures: np.ndarray,
                 min_each_side: int = MIN_OUTCOMES_EACH_SIDE) -> tuple[float, int] | None:
    """The best single step in the rate of `counts` over `exposures` (both in time order, oldest first): its
    log-likelihood gain over one rate and the index of the first outcome after it; None if too few outcomes."""
    y, e = np.asarray(counts, dtype=float), np.asarray(exposures, dtype=float)
    n = len(y)
    if n < 2 * min_each_side:
        return None
    before_y, before_e = np.cumsum(y)[:-1], np.cumsum(e)[:-1]
    total_y, total_e = y.sum(), e.sum()
    gain = (_poisson_fit(before_y, before_e) + _poisson_fit(total_y - before_y, total_e - before_e)
            - _poisson_fit(np.array(total_y), np.array(total_e)))
    after = np.arange(1, n)  # gain[k] splits before outcome k + 1
    gain = np.where((after >= min_each_side) & (n - after >= min_each_side), gain, -np.inf)
    best = int(np.argmax(gain))
    return float(gain[best]), best + 1


def restart_age(keys: pd.Series, counts: np.ndarray, exposures: np.ndarray, ages: np.ndarray,
                delta: float = FALSE_ALARM_RATE, min_each_side: int = MIN_OUTCOMES_EACH_SIDE) -> float | None:
    """The age in days of the newest step any arm's rate shows, or None. Outcomes are grouped by `keys` (the arm)
    and ordered by `ages` (days before now); the step sits halfway between the last outcome before it and the first
    after. After a step is found, only the outcomes newer than it are tested again, until none shows one."""
    keys = pd.Series(np.asarray(keys, dtype=object)).astype(str).to_numpy()
    y, e, a = (np.asarray(v, dtype=float) for v in (counts, exposures, ages))
    cut = np.inf
    while True:
        newest: float | None = None
        for arm in np.unique(keys[a < cut]):
            mine = np.flatnonzero((keys == arm) & (a < cut))
            mine = mine[np.argsort(-a[mine], kind="stable")]  # oldest first
            step = poisson_step(y[mine], e[mine], min_each_side)
            if step is None or step[0] <= threshold(len(mine), delta):
                continue
            at = (a[mine[step[1] - 1]] + a[mine[step[1]]]) / 2.0
            newest = at if newest is None else min(newest, at)
        if newest is None:
            return None if np.isinf(cut) else float(cut)
        cut = newest
