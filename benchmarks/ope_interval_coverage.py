"""How often the doubly robust estimate's 90 % bootstrap interval covers the true F/1K of a target, with the direct
method fitted on every logged post and cross-fitted over 5 folds, on synthetic logs shaped like the evaluation's.

Each draw logs --posts posts of a behaviour that puts a floor weight on each of 12 generators and the rest on the
three best (as a learning account does), lognormal impressions (sigma --sigma, the scenarios' 0.8), Poisson follows at
the generator's true F/1K; the target is a fixed mix of all twelve, so its true F/1K is known exactly. Printed per
way of fitting: coverage, mean error, RMSE and mean interval width (relative to the truth), all from one run.

    .venv/bin/python benchmarks/ope_interval_coverage.py [--draws 150] [--posts 240] [--sigma 0.8]
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


def logs(seed: int, posts: int, sigma: float, rates: np.ndarray, behaviour: np.ndarray) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.choice(GENERATORS, size=posts, p=behaviour)
    impressions = rng.lognormal(7.0, sigma, size=posts)
    return pd.DataFrame({
        "content_type": np.where(rng.random(posts) < 0.5, "tip", "myth"), "content_propensity": 0.5,
        "generator_name": [f"g{k}" for k in g], "generator_propensity": behaviour[g], "timing_propensity": 1.0,
        "impressions": impressions, "followers_gained": rng.poisson(rates[g] * impressions / 1000).astype(float),
        "engagement_rate": 0.04})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=150)
    parser.add_argument("--posts", type=int, default=240)
    parser.add_argument("--sigma", type=float, default=0.8)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(1)
    rates = rng.uniform(0.8, 3.0, GENERATORS)
    behaviour = np.full(GENERATORS, FLOOR)
    behaviour[np.argsort(-rates)[:3]] += (1 - FLOOR * GENERATORS) / 3
    mix = rng.dirichlet(np.full(GENERATORS, 5.0))
    truth = float(mix @ rates)  # impressions do not depend on the generator here
    target = TargetPolicy("mix", generators={f"g{k}": float(p) for k, p in enumerate(mix)})
    print(f"{args.draws} draws of {args.posts} posts, impressions sigma {args.sigma}, true F/1K {truth:.3f}")
    for folds in (1, 5):
        covered, errors, widths = [], [], []
        for seed in range(args.draws):
            try:
                dr = evaluate_target(logs(seed, args.posts, args.sigma, rates, behaviour), target, bootstrap=300,
                                     seed=seed, folds=folds)["f_per_1k"]["estimates"]["dr"]
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
