"""How often the doubly robust estimate's 90 % bootstrap interval covers the true F/1K of a target, with the direct
method fitted on every logged post and cross-fitted over 5 folds, on synthetic logs shaped like the evaluation's.

Each draw logs --posts posts of a behaviour that puts a floor weight on each of 12 generators and the rest on the
three best (as a learning account does), lognormal impressions (sigma --sigma, the scenarios' 0.8), Poisson follows at
the generator's true F/1K; the target is a fixed mix of all twelve, so its true F/1K is known exactly. With
--adaptive the behaviour learns instead, as the evaluation's does: each day (4 posts) its weights are the floor plus
the rest by the probability that each generator's Gamma posterior of F/1K, from the follows logged so far, is the
highest (400 samples). --growth G lets the impressions' median grow by e^G over the run (1.1: threefold, as an
account that gains followers). Printed per way of fitting: coverage, mean error, RMSE and mean interval width
(relative to the truth), all from one run.

    .venv/bin/python benchmarks/ope_interval_coverage.py [--draws 150] [--posts 240] [--sigma 0.8] [--adaptive]
        [--growth 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xbot_assets.learning.ope import OffPolicyRefused  # noqa: E402
from xbot_assets.learning.ope_policy import TargetPolicy, evaluate_target  # noqa: E402

GENERATORS = 12
FLOOR = 0.065
POSTS_PER_DAY = 4


def learned_weights(rng: np.random.Generator, followers: np.ndarray, impressions: np.ndarray) -> np.ndarray:
    """The floor plus the rest by each generator's probability of having the highest F/1K under its Gamma posterior."""
    samples = rng.gamma(1.0 + followers[:, None], 1.0 / (0.5 + impressions[:, None] / 1000), size=(GENERATORS, 400))
    best = np.bincount(samples.argmax(axis=0), minlength=GENERATORS) / samples.shape[1]
    return FLOOR + (1 - FLOOR * GENERATORS) * best


def logs(seed: int, args: argparse.Namespace, rates: np.ndarray, fixed: np.ndarray) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    followers, impressions = np.zeros(GENERATORS), np.zeros(GENERATORS)
    weights, rows = fixed, []
    for t in range(args.posts):
        if args.adaptive and t % POSTS_PER_DAY == 0:
            weights = learned_weights(rng, followers, impressions)
        g = rng.choice(GENERATORS, p=weights)
        shown = rng.lognormal(7.0 + args.growth * t / args.posts, args.sigma)
        followed = float(rng.poisson(rates[g] * shown / 1000))
        followers[g] += followed
        impressions[g] += shown
        rows.append({"content_type": "tip" if rng.random() < 0.5 else "myth", "content_propensity": 0.5,
                     "generator_name": f"g{g}", "generator_propensity": weights[g], "timing_propensity": 1.0,
                     "impressions": shown, "followers_gained": followed, "engagement_rate": 0.04})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=150)
    parser.add_argument("--posts", type=int, default=240)
    parser.add_argument("--sigma", type=float, default=0.8)
    parser.add_argument("--adaptive", action="store_true", help="the behaviour's weights learn from its own follows")
    parser.add_argument("--growth", type=float, default=0.0, help="log growth of the impressions' median over the run")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(1)
    rates = rng.uniform(0.8, 3.0, GENERATORS)
    behaviour = np.full(GENERATORS, FLOOR)
    behaviour[np.argsort(-rates)[:3]] += (1 - FLOOR * GENERATORS) / 3
    mix = rng.dirichlet(np.full(GENERATORS, 5.0))
    truth = float(mix @ rates)  # impressions do not depend on the generator here
    target = TargetPolicy("mix", generators={f"g{k}": float(p) for k, p in enumerate(mix)})
    print(f"{args.draws} draws of {args.posts} posts, impressions sigma {args.sigma}, growth {args.growth}, "
          f"{'adaptive' if args.adaptive else 'fixed'} behaviour, true F/1K {truth:.3f}")
    for folds in (1, 5):
        covered, errors, widths = [], [], []
        for seed in range(args.draws):
            try:
                dr = evaluate_target(logs(seed, args, rates, behaviour), target, bootstrap=300, seed=seed,
                                     folds=folds)["f_per_1k"]["estimates"]["dr"]
            except OffPolicyRefused:
                continue
            covered.append(dr["ci_low"] <= truth <= dr["ci_high"])
            errors.append(dr["value"] / truth - 1.0)
            widths.append((dr["ci_high"] - dr["ci_low"]) / truth)
        how = "fitted on every post" if folds == 1 else f"cross-fitted, {folds} folds"
        print(f"{how:22s} coverage {np.mean(covered):.3f} of {len(covered)}  mean error {np.mean(errors):+.4f}  "
              f"RMSE {np.sqrt(np.mean(np.square(errors))):.4f}  interval width {np.mean(widths):.4f}")


if __name__ == "__main__":
    main()
