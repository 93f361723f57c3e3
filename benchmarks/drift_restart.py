"""The generator bandit alone, with the shipped posterior sampling and forgetting, with and without the restart
at a change point (learning/change_points.py), on the shipped scenarios' generator truths.

Each draw runs --days days of --per-day posts: every morning the Gamma posteriors of F/1K are recomputed from the
posts before that day, with the half-life chosen by the data (`auto`) and, when on, the restart at the newest step
in any generator's follow rate (`follow_rate_half_life`, exactly as the learn step calls it); each post's generator
is one Thompson draw; impressions are lognormal (the scenario's median and sigma), follows Poisson at the
generator's true F/1K of that day (`Scenario.truth_at`). Nothing else of the loop is simulated — no content types,
hours, gates or attribution — so it measures the generator policy alone, over many more seeds than `xbot evaluate`
can run. Printed per scenario and setting, from one run on the same seeds: the share of the oracle over the run and
in every 10-day window, for a scenario that drifts the share of seeds under 0.8 in the window 10–19 days after the
change, and the time of a morning's choice of half-life with and without the restart.

    .venv/bin/python benchmarks/drift_restart.py [--seeds 40] [--days 60] [--scenarios drift default hidden_gem]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xbot_assets.learned.posteriors import follow_rate_half_life  # noqa: E402
from xbot_assets.learning.generator_posterior import generator_posteriors, sample_generator  # noqa: E402
from xbot_assets.simulation.scenario import load_scenario  # noqa: E402

COLUMNS = ["generator_name", "impressions", "followers_gained", "posted_at"]


def run(scenario, seed: int, days: int, per_day: int, change_points: bool,
        seconds: list[float]) -> pd.DataFrame:
    """One account's posts: day, the generator's true F/1K, the day's best and the impressions; the time of each
    morning's choice of half-life (and restart) is appended to `seconds`."""
    rng = np.random.default_rng([seed, 7])
    generators = list(scenario.truth_at(0).generators)
    history, posts = [], []
    for day in range(days):
        now = scenario.start.replace(tzinfo=None) + timedelta(days=day)
        truth = scenario.truth_at(day).generators
        outcomes = pd.DataFrame(history, columns=COLUMNS)
        started = time.perf_counter()
        decay = (follow_rate_half_life("auto", outcomes, "generator_name", now, change_points=change_points).decay
                 if len(outcomes) else None)
        seconds.append(time.perf_counter() - started)
        posteriors = generator_posteriors(outcomes, generators, as_of=now, half_life_days=decay)
        for k in range(per_day):
            generator = sample_generator(posteriors, rng)
            impressions = max(1, round(scenario.impressions_median * np.exp(scenario.impressions_sigma
                                                                            * rng.standard_normal())))
            followers = int(rng.poisson(truth[generator] * impressions / 1000))
            history.append([generator, impressions, followers, now + timedelta(hours=9 + 12 * k / per_day)])
            posts.append((day, truth[generator], max(truth.values()), impressions))
    return pd.DataFrame(posts, columns=["day", "rate", "best", "impressions"])


def share(posts: pd.DataFrame, first: int = 0, last: int | None = None) -> float:
    inside = posts[(posts["day"] >= first) & (posts["day"] <= (posts["day"].max() if last is None else last))]
    return float((inside["rate"] * inside["impressions"]).sum() / (inside["best"] * inside["impressions"]).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--scenarios", nargs="+", default=["drift", "default", "hidden_gem"])
    args = parser.parse_args()
    print(f"generator bandit alone, {args.seeds} seeds × {args.days} days; share of the oracle (mean over seeds)")
    for name in args.scenarios:
        scenario = load_scenario(name)
        changes = [event.day for event in scenario.drift if event.generators and event.day + 19 < args.days]
        per_call = {}
        for change_points in (False, True):
            seconds: list[float] = []
            runs = [run(scenario, seed, args.days, scenario.posts_per_day, change_points, seconds)
                    for seed in range(args.seeds)]
            per_call[change_points] = np.mean(seconds)
            overall = [share(r) for r in runs]
            windows = [np.mean([share(r, lo, lo + 9) for r in runs]) for lo in range(0, args.days, 10)]
            line = (f"{name:<11} restart {'on ' if change_points else 'off'}  share {np.mean(overall):.3f} "
                    f"(± {np.std(overall) / np.sqrt(len(runs)):.3f})  windows "
                    + " / ".join(f"{w:.2f}" for w in windows))
            for day in changes:
                late = [share(r, day + 10, day + 19) for r in runs]
                line += f"  | days {day + 10}–{day + 19}: {np.mean(late):.2f}, seeds under 0.8: {np.mean(np.less(late, 0.8)):.0%}"
            print(line, flush=True)
        print(f"{name:<11} the morning's half-life choice: {1000 * per_call[True]:.1f} ms a call with the restart, "
              f"{1000 * per_call[False]:.1f} without ({per_call[True] / per_call[False]:.2f}×)", flush=True)


if __name__ == "__main__":
    main()
