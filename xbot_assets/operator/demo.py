"""`xbot demo`: the whole loop on the embedded default, on simulated time, through Dagster.

Two simulated accounts live the same days on the same random numbers: `<account>` learns (plan → publish → collect
→ learn, one refresh run a day, recorded in the Dagster instance the UI reads) and `<account>-static` keeps the seed
defaults. The summary and the HTML report compare them and show what was learned: generator weights over time,
content-arm posteriors, the timing arms, predicted vs actual engagement.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from xbot_assets.acting.accounts import Account
from xbot_assets.acting.planner import DEFAULT_GENERATOR_POLICY
from xbot_assets.acting.profile import AccountProfile, read_profile, store_profile
from xbot_assets.evaluation.closed_loop import LoopError, LoopResult, realized_f_per_1k, run_closed_loop
from xbot_assets.evaluation.evaluate import oracle_f_per_1k
from xbot_assets.settings import PROJECT_ROOT, WarehouseTarget
from xbot_assets.simulation.scenario import load_scenario
from xbot_assets.warehouse.connection import Warehouse

REPORT_PATH = PROJECT_ROOT / ".xbot" / "report.html"


# The learning account's profile when the language model writes and no --profile is given: the simulator's niche.
DEMO_PROFILE = {
    "niche": "everyday health habits backed by evidence",
    "topics": [{"name": "sleep", "weight": 3}, {"name": "morning light", "weight": 2}, {"name": "hydration"},
               {"name": "walking"}, {"name": "caffeine timing"}],
    "audience": "busy adults who want one practical change at a time",
    "tone_rules": ["plain words", "one idea per post", "cite the kind of study, never invent one"],
    "banned_words": ["miracle", "cure"],
}


def run_demo(days: int = 30, scenario: str | None = None, account_id: str = "demo", seed: int | None = None,
             generator_policy: str = DEFAULT_GENERATOR_POLICY, report_path: Path | None = None, generator: str = "offline",
             profile_path: Path | None = None) -> int:
    started = time.perf_counter()
    scenario_ref = scenario or "default"
    sc = load_scenario(scenario_ref)
    seed = sc.seed if seed is None else seed
    wh = Warehouse(WarehouseTarget.from_env())
    if generator == "llm":  # the learning account is written by the language model, from a profile
        wh.migrate()
        profile = read_profile(profile_path) if profile_path else AccountProfile.model_validate(DEMO_PROFILE)
        store_profile(wh, account_id, profile, sc.start)
    print(f"xbot demo: scenario {sc.name!r}, {days} simulated days, accounts {account_id!r} (learning, generators "
          f"by {generator_policy}, written by the {generator} generator) and {account_id + '-static'!r} (seed "
          f"defaults), seed {seed}, "
          f"warehouse {wh.target.describe()}")
    accounts = [
        # Simulated accounts publish to the simulator; a real account starts in dry run (`xbot accounts add`).
        Account(account_id, scenario=scenario_ref, sim_seed=seed, generator_policy=generator_policy,
                posts_per_day=sc.posts_per_day, publish_enabled=True, generator=generator),
        Account(f"{account_id}-static", scenario=scenario_ref, sim_seed=seed, policy="static",
                posts_per_day=sc.posts_per_day, publish_enabled=True),
    ]

    def progress(day: int, seconds: float) -> None:
        if day % 5 == 4 or day == days - 1:
            print(f"  day {day + 1}/{days} done ({seconds:.0f}s)", flush=True)

    try:
        loop = run_closed_loop(wh, sc, accounts, days, tags={"xbot/trigger": "demo"}, progress=progress,
                               final_job_name="refresh_job")
    except LoopError as exc:
        print(f"xbot demo: {exc}")
        return 1
    path = write_demo_report(wh, loop, accounts, report_path or REPORT_PATH)
    print_summary(wh, loop, accounts)
    print(f"\nreport: {path}")
    print(f"runs: {len(loop.run_ids)} in the Dagster instance (see them with `make serve`)")
    print(f"demo finished in {time.perf_counter() - started:.1f}s "
          + "(" + ", ".join(f"{k} {v:.0f}s" for k, v in loop.seconds.items()) + ")")
    return 0


def _daily_f_per_1k(loop: LoopResult, account: str, label: str) -> pd.DataFrame:
    posts = loop.simulated_posts(account)
    if posts.empty:
        return pd.DataFrame(columns=["day", "policy", "f_per_1k"])
    daily = posts.groupby("day").agg(follows=("follows", "sum"), impressions=("impressions", "sum")).reset_index()
    return pd.DataFrame({"day": daily["day"], "policy": label,
                         "f_per_1k": 1000.0 * daily["follows"] / daily["impressions"]})


def print_summary(wh: Warehouse, loop: LoopResult, accounts: list[Account]) -> None:
    learned_id, static_id = accounts[0].account_id, accounts[1].account_id
    sc = loop.scenario
    posts = {a.account_id: loop.simulated_posts(a.account_id) for a in accounts}
    truth = sc.truth_at(loop.days - 1)
    with wh.connect() as conn:
        decided = conn.fetch_df(
            "select account_id, status, count(*) as n from raw.posts where account_id in (?, ?) group by 1, 2",
            [learned_id, static_id])
        weights = conn.fetch_df(
            "select generator_name, weight, posts, f_per_1k, tier from learn.generator_weights where account_id = ? "
            "order by weight desc", [learned_id])
        posteriors = conn.fetch_df(
            "select generator_name, posterior_mean, selection_probability from learn.generator_posteriors "
            "where account_id = ? order by selection_probability desc", [learned_id])
    counts = {(r.account_id, r.status): int(r.n) for r in decided.itertuples()}
    print("\n                      learning   static (seed defaults)")
    for status in ("posted", "skipped", "failed", "queued"):
        print(f"  {status:<18}{counts.get((learned_id, status), 0):>10}   {counts.get((static_id, status), 0):>10}")
    learned_f1k, static_f1k = realized_f_per_1k(posts[learned_id]), realized_f_per_1k(posts[static_id])
    oracle = oracle_f_per_1k(sc, posts[learned_id])
    print(f"  {'F/1K (true follows)':<18}{learned_f1k or float('nan'):>10.2f}   {static_f1k or float('nan'):>10.2f}"
          f"   oracle {oracle or float('nan'):.2f}")
    if learned_f1k and static_f1k:
        print(f"  lift vs static: {learned_f1k / static_f1k - 1:+.1%}; share of oracle: {learned_f1k / oracle:.1%}")
    best_true = truth.best_generator()
    if loop.accounts[0].generator_policy == "posterior" and len(posteriors):
        found = posteriors.iloc[0]["generator_name"]
        how = f"highest P(sampling picks) {posteriors.iloc[0]['selection_probability']:.2f}"
    elif len(weights):
        found = weights.iloc[0]["generator_name"]
        how = f"highest weight {weights.iloc[0]['weight']:.3f}"
    else:
        found, how = "—", "no weights learned"
    verdict = "found it" if found == best_true else "not found yet"
    print(f"  best generator: truth {best_true} ({truth.generators[best_true]:.1f} F/1K); learned {found} ({how}) "
          f"— {verdict}")


def write_demo_report(wh: Warehouse, loop: LoopResult, accounts: list[Account], path: Path) -> Path:
    from xbot_assets.operator.report import ReportData, reason_category, write_report

    learned_id, static_id = accounts[0].account_id, accounts[1].account_id
    sc = loop.scenario
    truth = sc.truth_at(loop.days - 1)
    posts = loop.simulated_posts(learned_id)
    daily = pd.concat([_daily_f_per_1k(loop, learned_id, "learned"), _daily_f_per_1k(loop, static_id, "static")])
    if len(posts):
        oracle = posts.groupby("day")["day"].first().map(lambda d: max(sc.truth_at(int(d)).generators.values()))
        daily = pd.concat([daily, pd.DataFrame({"day": oracle.index, "policy": "oracle", "f_per_1k": oracle.values})])
    weights = loop.weights[loop.weights["account_id"] == learned_id][["at", "generator_name", "weight"]]
    sim = loop.connectors[learned_id].simulator
    success = sim.content_success_probs(day=loop.days - 1)
    with wh.connect() as conn:
        gens = conn.fetch_df(
            "select generator_name, posts, f_per_1k from analytics.generator_performance "
            "where account_id = ? and time_window = 'all_time'", [learned_id])
        final = conn.fetch_df("select generator_name, weight from learn.generator_weights where account_id = ?",
                              [learned_id])
        arms = conn.fetch_df(
            "select scope, arm_value, alpha, beta, plays, mean_reward, ucb_index from learn.bandit_arms "
            "where account_id = ?", [learned_id])
        predictions = conn.fetch_df(
            "select p.decision_id, p.predicted_er, o.engagement_rate as actual_er, p.decision_reasons "
            "from raw.posts p join analytics.outcomes o on o.decision_id = p.decision_id "
            "where p.account_id = ? and o.passes_learning_gate and p.predicted_er is not null", [learned_id])
        candidates = conn.fetch_df("select status, skip_reason from raw.posts where account_id = ?", [learned_id])
    generators = pd.DataFrame({"generator_name": sorted(truth.generators)})
    generators["posts"] = generators["generator_name"].map(
        posts["generator_name"].value_counts() if len(posts) else {}).fillna(0).astype(int)
    generators["weight"] = generators["generator_name"].map(dict(zip(final["generator_name"], final["weight"],
                                                                     strict=True))).astype(float)
    generators["f_per_1k_measured"] = generators["generator_name"].map(
        dict(zip(gens["generator_name"], gens["f_per_1k"], strict=True))).astype(float)
    generators["f_per_1k_true"] = generators["generator_name"].map(truth.generators).astype(float)
    content = arms[arms["scope"] == "content"].copy()
    content["true_success_prob"] = content["arm_value"].map(success)
    timing = arms[arms["scope"] == "timing"].copy()
    timing["hour"] = pd.to_numeric(timing["arm_value"]).astype(int)
    # A prediction made while the model was a seed default says so in its reasons; the rest came from a learned model.
    predictions["model_source"] = np.where(
        predictions["decision_reasons"].fillna("").str.contains("seed default"), "seed_default", "learned")
    f_learned, f_static = realized_f_per_1k(posts), realized_f_per_1k(loop.simulated_posts(static_id))
    data = ReportData(
        title=f"xbot demo — scenario {sc.name}, {loop.days} simulated days",
        summary=[
            ("accounts", f"{learned_id} (learning, generators by {accounts[0].generator_policy}) vs {static_id} "
                         "(static defaults: default weights, uniform content types, fixed hours), same random numbers"),
            ("posts published", f"{len(posts)} learning, {len(loop.simulated_posts(static_id))} static"),
            ("F/1K (true follows per 1000 impressions)", f"learning {f_learned or float('nan'):.2f}, static "
                                                         f"{f_static or float('nan'):.2f}, oracle "
                                                         f"{oracle_f_per_1k(sc, posts) or float('nan'):.2f}"),
            ("true best generator", f"{truth.best_generator()} ({truth.generators[truth.best_generator()]:.1f} F/1K)"),
            ("Dagster runs", f"{len(loop.run_ids)} (open the UI with `make serve`)"),
        ],
        f_per_1k_daily=daily.reset_index(drop=True),
        weights=weights.reset_index(drop=True),
        generators=generators,
        true_best_generator=truth.best_generator(),
        content_arms=content[["arm_value", "alpha", "beta", "plays", "true_success_prob"]].reset_index(drop=True),
        timing_arms=timing[["hour", "plays", "mean_reward", "ucb_index"]].reset_index(drop=True),
        predictions=predictions[["decision_id", "predicted_er", "actual_er", "model_source"]].astype(
            {"predicted_er": float, "actual_er": float}),
        candidates=candidates.rename(columns={"skip_reason": "reason"}).assign(
            reason=lambda f: f["reason"].map(reason_category)),
        notes=[f"simulated from {sc.start:%Y-%m-%d} to {(sc.start + timedelta(days=loop.days)):%Y-%m-%d}"],
        timings=dict(loop.seconds),
    )
    return write_report(data, path)
