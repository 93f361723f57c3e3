"""Posts imported from the account's history (generator 'imported') and posts without a generator ('unknown') teach
the arms and the models, never the generator weights or posteriors: neither is a generator anyone can pick."""

from __future__ import annotations

import pandas as pd
import pytest

from xbot_assets.learning.generator_posterior import generator_posteriors
from xbot_assets.learning.generator_weights import (
    DEFAULT_WEIGHTS,
    IMPORTED_GENERATOR,
    NOT_GENERATORS,
    UNATTRIBUTED_GENERATOR,
    optimize_weights,
)


def test_the_optimizer_leaves_imported_and_unknown_posts_out():
    performance = pd.DataFrame(
        [("coach", 25, 25_000.0, 75.0), (IMPORTED_GENERATOR, 40, 40_000.0, 400.0),
         (UNATTRIBUTED_GENERATOR, 30, 30_000.0, 300.0)],
        columns=["generator_name", "posts", "impressions", "followers_gained"],
    )
    performance["f_per_1k"] = performance["followers_gained"] / performance["impressions"] * 1000
    result = optimize_weights(performance, pd.DataFrame(columns=["generator_name", "weight", "status"]))
    assert result.applied and result.posts_analysed == 25  # coach's posts only
    assert set(result.weights) == set(DEFAULT_WEIGHTS)
    assert sum(result.weights.values()) == pytest.approx(1.0)
    assert result.top_performer[0] == "coach"


def test_posteriors_leave_imported_and_unknown_posts_out():
    outcomes = pd.DataFrame(
        {"generator_name": ["coach", IMPORTED_GENERATOR, IMPORTED_GENERATOR, UNATTRIBUTED_GENERATOR],
         "impressions": [1000, 1000, 1000, 1000], "followers_gained": [2.0, 50.0, 50.0, 50.0]}
    )
    posteriors = generator_posteriors(outcomes, ["coach", "philosopher"]).set_index("generator_name")
    assert list(posteriors.index) == ["coach", "philosopher"]
    assert not set(NOT_GENERATORS) & set(posteriors.index)
    # The prior is the typical *generator's* F/1K: coach's 2, not pulled up by the imported posts' 50.
    assert posteriors.loc["philosopher", "posterior_mean"] == pytest.approx(2.0)
    assert posteriors.loc["coach", "posts"] == 1
