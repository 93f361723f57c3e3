"""`xbot evaluate`: does it learn? The real pipeline on a scenario, learning on vs the static seed defaults.

One closed loop runs every policy of every seed side by side, each as its own simulated account in one warehouse, so
one Dagster run a day (dbt, the learn assets, the planner) serves them all:

- `weights`: learning on, generators by the seed's weight optimizer (seed 004);
- `posterior`: learning on, generators by Gamma–Poisson posterior sampling;
- `static`: the seed defaults frozen (uniform content types, fixed hours, seed weights, no model gate).

The accounts of one seed share the simulator's random numbers slot by slot (common random numbers), so their
difference is the policies' difference, not luck. Everything "true" (the oracle, the ceilings, the Lai–Robbins bound)
comes from the scenario; everything "learned" is what the pipeline measured and stored.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from xbot_assets.acting.accounts import Account
from xbot_assets.acting.planner import DEFAULT_GENERATOR_POLICY
from xbot_assets.evaluation.closed_loop import LoopResult, realized_f_per_1k, run_closed_loop
from xbot_assets.evaluation.forward_scores import (
    auc_score,
    forward_predictions,
    forward_scores,
    history_frame,
    r2_score,
)
from xbot_assets.evaluation.generator_regret import generator_regret
from xbot_assets.evaluation.ope_validation import BEHAVIOUR, TARGET, summarize, validate_ope
from xbot_assets.evaluation.strategy_regret import follow_ceiling, mean_entries, strategy_regret
from xbot_assets.evaluation.windows import mean_windows, policy_windows
from xbot_assets.learned.models import newest_registry_row
from xbot_assets.learned.store import LearningSettings
from xbot_assets.learning.predictors import ENGAGEMENT_MODEL, FOLLOW_MODEL
from xbot_assets.simulation.audience import lai_robbins_constant_from_probs
from xbot_assets.simulation.scenario import Scenario, load_scenario

LEARNED_POLICIES = ("weights", "posterior")
# the model scores averaged over seeds (each seed's entry also has the versions and the forward post counts)
MODEL_SCORES = {"engagement_model": ("r2_holdout", "r2_ceiling", "r2_forward", "r2_forward_ceiling"),
                "follow_model": ("auc_holdout", "auc_ceiling", "auc_forward", "auc_forward_ceiling")}
POLICY_NAMES = (*LEARNED_POLICIES, "static")


def account_id(seed: int, policy: str) -> str:
    return f"eval-s{seed}-{policy}"


def accounts_for(scenario: Scenario, seeds: list[int], scenario_ref: str) -> list[Account]:
    out = []
    for seed in seeds:
        for policy in POLICY_NAMES:
            out.append(Account(
                account_id(seed, policy), connector="simulator", scenario=scenario_ref, sim_seed=seed,
                policy="static" if policy == "static" else "learned",
                generator_policy="weights" if policy == "static" else policy,
                posts_per_day=scenario.posts_per_day, publish_enabled=True,
            ))
    return out


def oracle_f_per_1k(scenario: Scenario, posts: pd.DataFrame) -> float | None:
    """Always the best generator of the day (and the best topic and hook, when the scenario has their effects), on
    the same impressions."""
    if posts.empty:
        return None
    ceiling = follow_ceiling(scenario)
    best = posts["day"].map(lambda d: max(scenario.truth_at(int(d)).generators.values()) * ceiling)
    return float((best * posts["impressions"]).sum() / posts["impressions"].sum())


def faced_success_probs(sim, posts: pd.DataFrame, day: int) -> dict[str, float]:
    """P(ER > threshold) of every content type in the bandit the learner actually faced: averaged over the hours
    and text qualities of its own posts (quality in steps of 0.05), with the truths of `day`."""
    contexts = Counter((int(h), round(float(q) * 20) / 20) for h, q in zip(posts["local_hour"], posts["quality_score"],
                                                                           strict=True))
    total: dict[str, float] = defaultdict(float)
    for (hour, quality), n in contexts.items():
        for arm, p in sim.content_success_probs(day=day, hour=hour, quality=quality, n_grid=32).items():
            total[arm] += n * p
    return {arm: v / len(posts) for arm, v in total.items()}


def content_regret(loop: LoopResult, account: str) -> tuple[float, float]:
    """(regret of the content choices in expected successes, the Lai–Robbins bound for as many posts).

    Per stationary segment of the scenario, the arms are the content types' success probabilities in the bandit the
    learner faced (`faced_success_probs`); regret sums μ* − μ(chosen) over its posts, and the bound is
    ln(n) · Σ (μ* − μ_a) / kl(μ_a, μ*) (Lai–Robbins, anchors §B.1)."""
    posts = loop.simulated_posts(account)
    if posts.empty:
        return 0.0, 0.0
    sim = loop.connectors[account].simulator
    regret = bound = 0.0
    for start, end in loop.scenario.stationary_segments(loop.days):
        in_segment = posts[(posts["day"] >= start) & (posts["day"] < end)]
        if in_segment.empty:
            continue
        probs = faced_success_probs(sim, in_segment, start)
        best = max(probs.values())
        regret += float(sum(best - probs[ct] for ct in in_segment["content_type"]))
        if len(in_segment) > 1:
            bound += math.log(len(in_segment)) * lai_robbins_constant_from_probs(probs)
    return regret, bound


def model_quality(loop: LoopResult, warehouse, account: str, end) -> dict[str, dict[str, float | None]]:
    """The newest models' own holdout scores and their ceilings (the truth's score on the same holdout rows), and
    the forward scores: every version on the posts published while it was in use (`forward_scores`), with theirs."""
    settings = LearningSettings.from_env()
    truth = loop.simulated_posts(account).set_index("decision_id")
    truths = {"engagement_model": truth["true_er"],
              "follow_model": truth["true_f_per_1k"] * truth["expected_impressions"]}
    out: dict[str, dict[str, float | None]] = {
        "engagement_model": {"r2_holdout": None, "r2_ceiling": None, "version": None},
        "follow_model": {"auc_holdout": None, "auc_ceiling": None, "version": None},
    }
    with warehouse.connect() as conn:
        # all history, read once: its newest rows are the newest model's holdout too (a window only cuts old posts)
        history = history_frame(conn, account, end, settings)
        for model_name, key, metric, score in ((ENGAGEMENT_MODEL, "engagement_model", "r2", r2_score),
                                               (FOLLOW_MODEL, "follow_model", "auc", auc_score)):
            target = "engagement_rate" if key == "engagement_model" else "follow_label"
            forward = forward_scores(forward_predictions(conn, account, model_name, history), target, truths[key],
                                     score)
            out[key].update({f"{metric}_forward": forward["forward"],
                             f"{metric}_forward_ceiling": forward["forward_ceiling"],
                             "forward_posts": forward["forward_posts"]})
            row = newest_registry_row(conn, account, model_name)
            if row is None:
                continue
            usable = history[history[target].notna()]
            holdout = usable.iloc[len(usable) - int(row["n_holdout"]):] if int(row["n_holdout"]) else usable.iloc[:0]
            known = holdout[holdout["decision_id"].isin(truth.index)]
            out[key].update({
                "version": int(row["version"]), f"{metric}_holdout": json.loads(row["metrics"]).get(metric),
                f"{metric}_ceiling": score(known[target].to_numpy(float),
                                           truths[key].loc[known["decision_id"]].to_numpy(float))})
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(known)) if known else None


@dataclass
class Evaluation:
    result: dict[str, Any]
    loop: LoopResult | None  # None when the seeds ran in several processes (jobs > 1)


def evaluation_settings(scenario: Scenario) -> dict[str, Any]:
    """What the learners were told, so a result says what produced it."""
    from xbot_assets.learned.posteriors import PosteriorSettings

    learning, posteriors = LearningSettings.from_env(), PosteriorSettings.from_env()
    return {"reported_follows": scenario.reported_follows,
            "arm_half_life_days": learning.arm_half_life_days,
            "engagement_half_life_days": learning.engagement_half_life_days,
            "topic_reward": learning.topic_reward,
            "generator_half_life_days": posteriors.half_life_days,
            "change_points": posteriors.change_points}


def evaluate(scenario_ref: str, days: int, seeds: int = 1, *, warehouse_path: Path | None = None,
             progress=None, ope: bool = False, reported_follows: bool | None = None, jobs: int = 1,
             workdir: Path | None = None) -> Evaluation:
    """Run the evaluation; returns the PRODUCT §7 JSON object (means over seeds, plus per-seed values). With `ope`,
    the off-policy estimators are checked against the truth too (`evaluation.ope_validation`). `reported_follows`
    overrides the scenario's setting (False: the platform reports no per-post follows, only the follower count).

    `jobs` > 1 runs the seeds in that many processes, each its own closed loop and warehouse: a seed's accounts never
    read another seed's rows, so every seed's numbers are the ones one loop gives (tested); the result then carries
    no single `loop` (None) and its timing sums the processes' steps."""
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    started = time.perf_counter()
    scenario = load_scenario(scenario_ref)
    seed_list = [scenario.seed + i for i in range(seeds)]
    # The warehouses and the changed scenario live here; the returned loop reads them, so the caller removes it.
    workdir = workdir or Path(tempfile.mkdtemp(prefix="xbot-evaluate-"))
    if reported_follows is not None and reported_follows != scenario.reported_follows:
        # The accounts name their scenario by reference: the changed one is written beside the warehouse.
        scenario = Scenario.from_dict({**scenario.to_dict(), "reported_follows": reported_follows})
        scenario_ref = str(workdir / f"{scenario.name}.yaml")
        Path(scenario_ref).write_text(yaml.safe_dump(scenario.to_dict(), sort_keys=False), encoding="utf-8")
    jobs = min(jobs, len(seed_list))
    loop = None
    if jobs == 1:
        per_seed, loop = _run_seeds(scenario_ref, seed_list, days, warehouse_path or workdir / "evaluation.duckdb",
                                    progress, ope)
        seconds, step_seconds, candidates = loop.seconds, loop.step_seconds, loop.candidates
    else:
        if warehouse_path is not None:
            raise ValueError("--jobs > 1 gives every process its own warehouse: no warehouse path can be kept")
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        chunks = [seed_list[k::jobs] for k in range(jobs)]
        # spawn: a fresh interpreter per process (forking a process that holds DuckDB and Dagster state is unsafe)
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = list(pool.map(_seed_job, [(scenario_ref, chunk, days, str(workdir / f"evaluation-{k}.duckdb"), ope)
                                              for k, chunk in enumerate(chunks)]))
        by_seed = {entry["seed"]: entry for part, _, _, _ in parts for entry in part}
        per_seed = [by_seed[seed] for seed in seed_list]
        seconds, step_seconds = defaultdict(float), defaultdict(float)
        candidates = sum(part_candidates for _, _, _, part_candidates in parts)
        for _, part_seconds, part_steps, _ in parts:
            for totals, values in ((seconds, part_seconds), (step_seconds, part_steps)):
                for key, value in values.items():
                    totals[key] += value

    def mean_of(path: list[str]) -> float | None:
        values = []
        for entry in per_seed:
            node: Any = entry
            for key in path:
                node = None if node is None else node.get(key)
            values.append(node)
        return _mean(values)

    policies = {}
    for policy in LEARNED_POLICIES:
        policies[policy] = {
            "f_per_1k": {"learned": mean_of(["f_per_1k", policy]), "static": mean_of(["f_per_1k", "static"]),
                         "oracle": mean_of(["f_per_1k", "oracle"])},
            "lift_vs_static": mean_of([policy, "lift_vs_static"]),
            "share_of_oracle": mean_of([policy, "share_of_oracle"]),
            "content_regret": {"learned": mean_of([policy, "content_regret", "learned"]),
                               "lai_robbins_bound": mean_of([policy, "content_regret", "lai_robbins_bound"])},
            "generator_regret": {k: mean_of([policy, "generator_regret", k])
                                 for k in ("learned", "lai_robbins_bound", "share_at_floor")},
            **{model: {name: mean_of([policy, model, name]) for name in names}
               for model, names in MODEL_SCORES.items()},
            **mean_entries(mean_of, policy),
            "windows": mean_windows([entry[policy]["windows"] for entry in per_seed], _mean),
        }
    headline = policies[DEFAULT_GENERATOR_POLICY]  # the top-level numbers are what a new account would get
    result = {
        "scenario": scenario.name,
        "days": days,
        "seeds": seed_list,
        "posts": mean_of(["posts", "weights"]),
        "generator_policy": DEFAULT_GENERATOR_POLICY,
        "settings": evaluation_settings(scenario),
        **headline,
        "policies": policies,
        "per_seed": per_seed,
        "timing_seconds": {**{k: round(v, 1) for k, v in seconds.items()},
                           "total": round(time.perf_counter() - started, 1), "jobs": jobs,
                           # the planner step's time over every candidate it wrote (drafting, scoring, gating)
                           "planner_ms_per_candidate": round(1000 * step_seconds.get("act__planned_posts", 0.0)
                                                             / candidates, 1) if candidates else None,
                           "breakdown": {k: round(v, 1) for k, v in sorted(
                               step_seconds.items(), key=lambda kv: -kv[1])}},
    }
    if ope:
        result["ope"] = summarize([entry["ope"] for entry in per_seed])
    return Evaluation(result, loop)


def _seed_job(job: tuple[str, list[int], int, str, bool]) -> tuple[list[dict], dict, dict, int]:
    """One process of `evaluate(jobs=N)`: its seeds' entries, its loop's timings and candidates (picklable)."""
    scenario_ref, seeds, days, path, ope = job
    per_seed, loop = _run_seeds(scenario_ref, seeds, days, Path(path), None, ope)
    return per_seed, dict(loop.seconds), dict(loop.step_seconds), loop.candidates


def _run_seeds(scenario_ref: str, seed_list: list[int], days: int, warehouse_path: Path, progress,
               ope: bool) -> tuple[list[dict], LoopResult]:
    """One closed loop over the seeds' accounts in one warehouse, and every seed's measured entry."""
    import dagster as dg

    from xbot_assets.runtime.instance import prepare_environment
    from xbot_assets.settings import WarehouseTarget
    from xbot_assets.warehouse.connection import Warehouse

    scenario = load_scenario(scenario_ref)
    warehouse = Warehouse(WarehouseTarget.parse(str(warehouse_path)))
    prepare_environment()
    # The evaluation's warehouse is its own; the Dagster runs read it through the same setting as production.
    saved = os.environ.get("XBOT_WAREHOUSE")
    os.environ["XBOT_WAREHOUSE"] = str(warehouse.target.duckdb_path) if warehouse.kind == "duckdb" else saved or ""
    try:
        loop = run_closed_loop(warehouse, scenario, accounts_for(scenario, seed_list, scenario_ref), days,
                               instance=dg.DagsterInstance.ephemeral(),
                               final_job_name="learn_and_plan_job",
                               tags={"xbot/trigger": "evaluate"}, progress=progress)
    finally:
        if saved is None:
            os.environ.pop("XBOT_WAREHOUSE", None)
        else:
            os.environ["XBOT_WAREHOUSE"] = saved
    end = (scenario.start + timedelta(days=days)).replace(tzinfo=None)

    per_seed = []
    for seed in seed_list:
        posts = {p: loop.simulated_posts(account_id(seed, p)) for p in POLICY_NAMES}
        f1k = {p: realized_f_per_1k(posts[p]) for p in POLICY_NAMES}
        oracle = oracle_f_per_1k(scenario, posts["weights"])
        entry: dict[str, Any] = {"seed": seed, "posts": {p: len(posts[p]) for p in POLICY_NAMES},
                                 "f_per_1k": {**f1k, "oracle": oracle}}
        for policy in LEARNED_POLICIES:
            regret, bound = content_regret(loop, account_id(seed, policy))
            entry[policy] = {
                "lift_vs_static": None if f1k[policy] is None or f1k["static"] is None else
                f1k[policy] / f1k["static"] - 1.0,
                "share_of_oracle": _ratio(f1k[policy], oracle),
                "content_regret": {"learned": regret, "lai_robbins_bound": bound},
                "generator_regret": generator_regret(scenario, posts[policy], days),
                **model_quality(loop, warehouse, account_id(seed, policy), end),
                **strategy_regret(loop, warehouse, account_id(seed, policy)),
                "windows": policy_windows(posts, policy, days, lambda w: oracle_f_per_1k(scenario, w),
                                          realized_f_per_1k),
            }
        static_regret, _ = content_regret(loop, account_id(seed, "static"))
        entry["static_content_regret"] = static_regret
        entry["static_strategy_regret"] = strategy_regret(loop, warehouse, account_id(seed, "static"),
                                                          with_strategy=False)
        if ope:
            entry["ope"] = validate_ope(warehouse, scenario, posts[BEHAVIOUR], posts[TARGET],
                                        account_id(seed, BEHAVIOUR), days, end, seed=seed)
        per_seed.append(entry)
    return per_seed, loop
