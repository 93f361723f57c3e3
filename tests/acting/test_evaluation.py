"""`xbot evaluate`: the JSON object of PRODUCT §7 from the real pipeline (a short run; the targets are in the README)."""

import json

import pytest

from xbot_assets.evaluation.evaluate import evaluate
from xbot_assets.operator.cli import main


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    from xbot_assets.runtime.instance import definitions

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("XBOT_REDIS_URL", raising=False)
    definitions.cache_clear()
    yield tmp_path
    definitions.cache_clear()


def test_evaluate_prints_the_product_keys(isolated, capsys):
    assert main(["evaluate", "--scenario", "default", "--days", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("days", "posts", "f_per_1k", "lift_vs_static", "share_of_oracle", "content_regret",
                "engagement_model", "follow_model"):
        assert key in result, key
    assert set(result["f_per_1k"]) == {"learned", "static", "oracle"}
    assert set(result["content_regret"]) == {"learned", "lai_robbins_bound"}
    assert set(result["engagement_model"]) == {"r2_holdout", "r2_ceiling"}
    assert set(result["follow_model"]) == {"auc_holdout", "auc_ceiling"}
    assert set(result["policies"]) == {"weights", "posterior"}
    assert result["days"] == 2 and result["posts"] == 8  # 4 posts a day
    assert result["f_per_1k"]["oracle"] == pytest.approx(3.4)  # dataNerd, the default scenario's best
    seed = result["per_seed"][0]
    assert seed["posts"] == {"weights": 8, "posterior": 8, "static": 8}
    # Two days are below the models' minimum sample count: nothing is claimed for them.
    assert result["engagement_model"]["r2_holdout"] is None
    assert result["lift_vs_static"] == pytest.approx(
        seed["f_per_1k"]["weights"] / seed["f_per_1k"]["static"] - 1.0)


def test_common_random_numbers_make_policies_comparable(isolated):
    loop = evaluate("hidden_gem", 2, 1).loop
    posts = {a.account_id: loop.simulated_posts(a.account_id) for a in loop.accounts}
    static = posts["eval-s11-static"].set_index("post_index")
    learned = posts["eval-s11-weights"].set_index("post_index")
    # Slot k of both accounts drew the same lognormal impressions (up to the hour and thread multipliers).
    common = static.index.intersection(learned.index)
    ratio = (static.loc[common, "impressions"] / static.loc[common, "expected_impressions"]) / (
        learned.loc[common, "impressions"] / learned.loc[common, "expected_impressions"])
    assert len(common) == 8 and ratio.between(0.98, 1.02).all()
