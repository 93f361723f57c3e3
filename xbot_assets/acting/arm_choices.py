"""The planner's topic and hook choices (issue 17), pure: Thompson sampling over Beta arms, the trending share, and
the call to a writer with the chosen topic and hook.

A slot's topic is chosen before the text is written: with probability `trending_share` (when a trending topic
exists) the top trending topic, otherwise a profile topic by Thompson sampling over the topic arms (a topic never
played keeps the Beta(1,1) prior). Its propensity is the probability of the pair (topic, where it came from), so
trending and bandit posts are both evaluable off-policy. The hook is Thompson-sampled over the seven hook types.
Without learning (the static policy, or the arms switched off) the topic is drawn by the profile's weights and the
hook uniformly, with those probabilities as propensities. Topic arms learned on followers per 1,000 impressions
(XBOT_TOPIC_REWARD=f_per_1k) are Thompson-sampled over their Gamma posteriors instead of Beta ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xbot_assets.ingest.hooks import HOOK_TYPES
from xbot_assets.learned.store import TOPIC_REWARD_F_PER_1K
from xbot_assets.learning.content_arms import beta_win_probabilities, check_beta_parameters
from xbot_assets.learning.generator_posterior import gamma_win_probabilities

PROPENSITY_DRAWS = 4_000


class WinProbabilities:
    """The Monte Carlo propensities of one planning run, each posterior's estimated once. The arms do not change while
    a day is planned, so every candidate that day gets the same propensity for the same pick, and the planner pays
    the 4,000 draws once per distribution instead of once per choice (~60 % of its time before, measured by
    benchmarks/planner_cost.py)."""

    def __init__(self) -> None:
        self._known: dict[tuple, dict[str, float]] = {}

    def once(self, key: tuple, compute: Callable[[], dict[str, float]]) -> dict[str, float]:
        """`compute()`'s result for `key`, which must hold every parameter of the distribution."""
        if key not in self._known:
            self._known[key] = compute()
        return self._known[key]


@dataclass(frozen=True)
class TrendingTopic:
    """A topic rising among recent viral examples, inside the account's niche (`profile_topic` is the profile topic
    it falls under: the arm it would teach, were trending posts not judged apart)."""

    label: str
    profile_topic: str
    score: float  # recency-weighted count of the viral examples on it
    growth: float  # that count in the recent half of the window over the older half's


@dataclass(frozen=True)
class TopicChoice:
    text_topic: str  # what the writer is asked to write about
    topic_arm: str  # the profile topic (the arm)
    source: str  # bandit | trending | static
    propensity: float


def beta_choice(arms: pd.DataFrame, values: Sequence[str], rng: np.random.Generator,
                wins: WinProbabilities | None = None) -> tuple[str, float]:
    """Thompson sampling over `values` with the stored posteriors (`arm_value`, alpha, beta; Beta(1,1) when absent);
    the pick and its Monte Carlo propensity (never 0: a pick the estimate missed has at most one draw's chance)."""
    values = list(dict.fromkeys([*values, *arms.get("arm_value", [])]))
    alpha, beta = _parameters(arms, values, (1.0, 1.0))
    check_beta_parameters(alpha, beta)
    pick = values[int(np.argmax(rng.beta(alpha, beta)))]
    props = (wins or WinProbabilities()).once(
        ("beta", tuple(values), alpha.tobytes(), beta.tobytes()),
        lambda: beta_win_probabilities(values, alpha, beta, rng, PROPENSITY_DRAWS))
    return pick, max(props[pick], 1.0 / (PROPENSITY_DRAWS + 1))


def _parameters(arms: pd.DataFrame, values: list[str], prior: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Each value's stored (alpha, beta), `prior` for a value never stored; read as plain values, not by frame
    look-ups (the planner chooses several times per candidate)."""
    stored = ({str(v): (float(a), float(b)) for v, a, b in zip(arms["arm_value"], arms["alpha"], arms["beta"],
                                                               strict=True)} if len(arms) else {})
    pairs = np.array([stored.get(v, prior) for v in values], dtype=float).reshape(len(values), 2)
    return pairs[:, 0], pairs[:, 1]


def gamma_choice(arms: pd.DataFrame, values: Sequence[str], rng: np.random.Generator,
                 wins: WinProbabilities | None = None) -> tuple[str, float]:
    """Thompson sampling over Gamma posteriors of F/1K (alpha = shape, beta = rate; arms learned on follows): a value
    never played draws from the prior the stored ones started from. The pick and its Monte Carlo propensity."""
    values = list(dict.fromkeys([*values, *arms["arm_value"]]))
    shape, rate = _parameters(arms, values, (float(arms["prior_alpha"].iloc[0]), float(arms["prior_beta"].iloc[0])))
    pick = values[int(np.argmax(rng.gamma(shape, 1.0 / rate)))]
    props = (wins or WinProbabilities()).once(
        ("gamma", tuple(values), shape.tobytes(), rate.tobytes()),
        lambda: gamma_win_probabilities(values, shape, rate, rng, PROPENSITY_DRAWS))
    return pick, max(props[pick], 1.0 / (PROPENSITY_DRAWS + 1))


def posterior_choice(arms: pd.DataFrame, values: Sequence[str], rng: np.random.Generator,
                     wins: WinProbabilities | None = None) -> tuple[str, float]:
    """Thompson sampling over the arms as they were learned: Gamma posteriors of F/1K where the arms say so
    (reward f_per_1k), else Beta posteriors on the success rule."""
    on_follows = len(arms) > 0 and "reward" in arms and (arms["reward"] == TOPIC_REWARD_F_PER_1K).all()
    return gamma_choice(arms, values, rng, wins) if on_follows else beta_choice(arms, values, rng, wins)


def weighted_choice(weights: Mapping[str, float], rng: np.random.Generator) -> tuple[str, float]:
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    p /= p.sum()
    index = int(rng.choice(len(names), p=p))
    return names[index], float(p[index])


def choose_topic(topic_weights: Mapping[str, float], topic_arms: pd.DataFrame, trending: Sequence[TrendingTopic],
                 *, learn: bool, trending_share: float, rng: np.random.Generator,
                 wins: WinProbabilities | None = None) -> TopicChoice | None:
    """The slot's topic, or None when the account has no topics to choose from (the writer picks its own)."""
    if not topic_weights:
        return None
    if not learn:
        topic, p = weighted_choice(topic_weights, rng)
        return TopicChoice(topic, topic, "static", p)
    share = trending_share if trending else 0.0
    if share > 0 and rng.random() < share:
        top = trending[0]
        return TopicChoice(top.label, top.profile_topic, "trending", share)
    known = topic_arms[topic_arms["arm_value"].isin(list(topic_weights))] if len(topic_arms) else topic_arms
    topic, p = posterior_choice(known, list(topic_weights), rng, wins)
    return TopicChoice(topic, topic, "bandit", (1.0 - share) * p)


def choose_hook(hook_arms: pd.DataFrame, *, learn: bool, rng: np.random.Generator,
                wins: WinProbabilities | None = None) -> tuple[str, float]:
    if not learn:
        return HOOK_TYPES[int(rng.integers(len(HOOK_TYPES)))], 1.0 / len(HOOK_TYPES)
    known = hook_arms[hook_arms["arm_value"].isin(HOOK_TYPES)] if len(hook_arms) else hook_arms
    return beta_choice(known, HOOK_TYPES, rng, wins)


def _accepted_keywords(generate: Callable) -> set[str] | None:
    """The keywords a writer takes (None: it takes any). Writers written before topic and hook arms take neither."""
    try:
        parameters = inspect.signature(generate).parameters.values()
    except (TypeError, ValueError):
        return set()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters}


def write_with(generate: Callable, generator: str, content_type: str, rng: np.random.Generator, *, thread: bool,
               **brief):
    """Call the writer with the brief's topic, hook, formulas ... as far as it takes them (none given as None)."""
    accepted = _accepted_keywords(generate)
    extra = {k: v for k, v in brief.items() if v is not None and (accepted is None or k in accepted)}
    return generate(generator, content_type, rng, thread=thread, **extra)
