"""Synthetic X audience with a known ground truth (PRODUCT §7): scenario files and the simulator.

Pure Python (numpy + pyyaml): no Dagster, no database. `scenario` reads the scenario files (`scenarios/*.yaml`),
`audience` draws impressions, engagement and follows from their truths.

Imports nothing of xbot. Imported only by the simulator connector (`connectors.simulator`, the one place that joins
it to the act steps) and by `evaluation` and `operator`, which judge policies against its truth.
"""

from .audience import (
    METRIC_FIELDS,
    AudienceSimulator,
    SimulatedPost,
    accrued,
    bernoulli_kl,
    binom_ppf,
    binom_sf,
    lai_robbins_constant_from_probs,
    poisson_ppf,
)
from .scenario import ENGAGEMENT_FIELDS, SCENARIOS_DIR, DriftEvent, Scenario, Truth, load_scenario

__all__ = [
    "AudienceSimulator",
    "DriftEvent",
    "ENGAGEMENT_FIELDS",
    "METRIC_FIELDS",
    "SCENARIOS_DIR",
    "Scenario",
    "SimulatedPost",
    "Truth",
    "accrued",
    "bernoulli_kl",
    "binom_ppf",
    "binom_sf",
    "lai_robbins_constant_from_probs",
    "load_scenario",
    "poisson_ppf",
]
