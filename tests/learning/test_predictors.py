"""Features, the ridge engagement model and the Poisson follow model, their JSON form, and predictions from the
JSON alone."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import PoissonRegressor, RidgeCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from xbot_assets.learning.content_arms import recency_weights
from xbot_assets.learning.engagement_model import RIDGE_ALPHAS, train_engagement_model
from xbot_assets.learning.features import (
    choice_values,
    choices_in,
    feature_frame,
    feature_names,
    features_for_models,
)
from xbot_assets.learning.follow_model import train_follow_model
from xbot_assets.learning.predictors import (
    TrainedModel,
    is_count_model,
    predict_engagement,
    predict_follow_count,
    predict_follow_probability,
    raw_unit_coefficients,
    seed_default_models,
)

TYPES = ["educational", "myth_busting"]


def synthetic_posts(n: int, seed: int) -> pd.DataFrame:
    """Posts with a real signal (quality → ER, novelty → follows) and some missing values to impute."""
    rng = np.random.default_rng(seed)
    posts = pd.DataFrame(
        {
            "quality_score": rng.uniform(0.3, 1.0, n),
            "content_type": rng.choice([*TYPES, "news"], n),
            "posted_hour": rng.integers(0, 24, n),
            "decision_type": rng.choice(["single", "thread"], n),
            "novelty_score": rng.uniform(0, 1, n),
            "expertise_score": rng.uniform(0, 1, n),
            "viral_score": rng.uniform(0, 1, n),
            "posted_at": pd.date_range("2025-01-01", periods=n, freq="2h", tz="UTC"),
        }
    )
    posts["engagement_rate"] = 0.01 + 0.03 * posts["quality_score"] + rng.normal(0, 0.004, n)
    posts["followers_gained"] = (rng.uniform(0, 1, n) < 0.15 + 0.6 * posts["novelty_score"]).astype(int)
    posts.loc[posts.index % 9 == 0, "quality_score"] = np.nan
    posts.loc[posts.index % 11 == 0, "novelty_score"] = np.nan
    return posts


def sklearn_pipeline(estimator) -> Pipeline:
    return Pipeline(
        [
            ("imputer", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scaler", StandardScaler()),
            ("model", estimator),
        ]
    )


def assert_plain_json(value) -> None:
    if isinstance(value, dict):
        assert all(isinstance(k, str) for k in value)
        for v in value.values():
            assert_plain_json(v)
    elif isinstance(value, list):
        for v in value:
            assert_plain_json(v)
    else:
        assert value is None or type(value) in (str, int, float, bool)
        assert not (isinstance(value, float) and not math.isfinite(value))


# ---------------------------------------------------------------------------------------------------------------------
# Features


def test_feature_frame_by_hand():
    posts = pd.DataFrame(
        {
            "quality_score": [0.8, None],
            "content_type": ["myth_busting", "unknown_type"],
            "posted_hour": [6, 12],
            "decision_type": ["thread", "single"],
            "novelty_score": [0.4, 0.6],
        },
        index=[10, 20],
    )
    features = feature_frame(posts, TYPES)
    assert list(features.columns) == feature_names(TYPES) == [
        "quality_score", "ct_educational", "ct_myth_busting", "hour_sin", "hour_cos",
        *[f"hour_{h:02d}" for h in range(24)], "is_thread", "novelty_score", "expertise_score", "viral_score",
    ]  # fmt: skip
    assert features.index.tolist() == [10, 20]
    first, second = features.loc[10], features.loc[20]
    assert (first.ct_educational, first.ct_myth_busting, first.is_thread) == (0.0, 1.0, 1.0)
    assert (first.hour_sin, first.hour_cos) == (pytest.approx(1.0), pytest.approx(0.0, abs=1e-12))  # 6h: a quarter turn
    assert (second.hour_sin, second.hour_cos) == (pytest.approx(0.0, abs=1e-12), pytest.approx(-1.0))
    assert (second.ct_educational, second.ct_myth_busting) == (0.0, 0.0)  # unknown type: no one-hot
    assert np.isnan(second.quality_score)  # left for the model's imputer, never invented here
    assert features["expertise_score"].isna().all()  # column absent upstream → NaN, same shape


def test_choice_one_hots_by_hand_and_back_from_the_names():
    posts = pd.DataFrame({"quality_score": [0.8, 0.7, 0.6], "content_type": ["myth_busting"] * 3,
                          "posted_hour": [6, 7, 8], "decision_type": ["single"] * 3,
                          "generator_name": ["dataNerd", "coach", "dataNerd"],
                          "topic_arm": ["sleep", None, "stress"], "hook": ["question", "surprising number", None]})
    choices = choice_values(posts)
    assert choices == {"generator_name": ["coach", "dataNerd"], "topic_arm": ["sleep", "stress"],
                       "hook": ["question", "surprising number"]}
    names = feature_names(TYPES, choices)
    assert names[:len(feature_names(TYPES))] == feature_names(TYPES)  # the base block keeps its order
    assert names[len(feature_names(TYPES)):] == ["generator_coach", "generator_dataNerd", "topic_sleep",
                                                 "topic_stress", "hook_question", "hook_surprising number"]
    assert choices_in(names) == choices
    assert choices_in(feature_names(TYPES)) == {"generator_name": [], "topic_arm": [], "hook": []}

    features = feature_frame(posts, TYPES, choices)
    assert list(features.columns) == names
    assert features["generator_dataNerd"].tolist() == [1.0, 0.0, 1.0]
    assert features["topic_sleep"].tolist() == [1.0, 0.0, 0.0]  # no topic: none of the topics
    assert features["hook_surprising number"].tolist() == [0.0, 1.0, 0.0]
    unseen = feature_frame(posts.assign(generator_name="newcomer"), TYPES, choices)
    assert unseen[["generator_coach", "generator_dataNerd"]].to_numpy().sum() == 0.0
    without = feature_frame(posts.drop(columns=["hook"]), TYPES, choices)  # a frame without the column at all
    assert without[["hook_question", "hook_surprising number"]].to_numpy().sum() == 0.0


def posts_with_choices(n: int, seed: int, generator_effect: float) -> pd.DataFrame:
    """synthetic_posts with a generator per post; engagement moves with the generator by `generator_effect`."""
    rng = np.random.default_rng(seed + 1000)
    posts = synthetic_posts(n, seed)
    posts["generator_name"] = rng.choice(["coach", "dataNerd", "storyteller"], n)
    posts["topic_arm"] = rng.choice(["sleep", "stress"], n)
    posts["hook"] = rng.choice(["question", "bold claim"], n)
    posts["engagement_rate"] += generator_effect * (posts["generator_name"] == "dataNerd")
    return posts


def test_engagement_model_reads_the_choices_only_where_they_lower_the_error_on_newer_training_rows():
    moved = posts_with_choices(150, seed=21, generator_effect=0.02)
    model = train_engagement_model(moved, TYPES, choices=choice_values(moved))
    assert model.metrics["choice_features"] is True
    assert model.metrics["inner_mse_choices"] < model.metrics["inner_mse_base"]
    assert "generator_dataNerd" in model.feature_names and "reads the generator" in model.reason
    _, raw = raw_unit_coefficients(model.to_json())
    assert raw["generator_dataNerd"] == pytest.approx(0.02 * 2 / 3, rel=0.25)  # against the other two's mean
    without = train_engagement_model(moved, TYPES)
    assert model.metrics["r2"] > without.metrics["r2"] + 0.2

    # The same posts with engagement that does not depend on the choices: the one-hots only add noise.
    still = [posts_with_choices(150, seed=s, generator_effect=0.0) for s in range(30, 40)]
    kept = [train_engagement_model(p, TYPES, choices=choice_values(p)) for p in still]
    left_out = [m for m in kept if not m.metrics["choice_features"]]
    assert len(left_out) >= 6, [m.metrics["inner_mse_base"] - m.metrics["inner_mse_choices"] for m in kept]
    assert all(m.feature_names == feature_names(TYPES) and "leaves out" in m.reason for m in left_out)
    document = left_out[0].to_json()
    features = feature_frame(still[0], TYPES, choice_values(still[0]))  # a wider frame still lines up by name
    assert predict_engagement(document, features) == pytest.approx(
        predict_engagement(document, feature_frame(still[0], TYPES)))


def test_follow_model_always_reads_the_choices():
    posts = posts_with_choices(200, seed=23, generator_effect=0.0)
    rng = np.random.default_rng(5)
    posts["followers_gained"] = rng.poisson(np.where(posts["generator_name"] == "dataNerd", 2.0, 0.2))
    model = train_follow_model(posts, TYPES, choices=choice_values(posts))
    assert model.trained and "generator_dataNerd" in model.feature_names and "hook_question" in model.feature_names
    generators = {n: c for n, c in model.coefficients.items() if n.startswith("generator_")}
    assert max(generators, key=generators.get) == "generator_dataNerd" and generators["generator_dataNerd"] > 0.2
    assert model.metrics["auc"] > train_follow_model(posts, TYPES).metrics["auc"] + 0.1


def test_is_thread_flag_wins_over_decision_type():
    posts = pd.DataFrame(
        {
            "quality_score": [0.5] * 3,
            "content_type": ["educational"] * 3,
            "posted_hour": [0] * 3,
            "is_thread": [False, None, True],
            "decision_type": ["thread", "thread", "single"],
        }
    )
    assert feature_frame(posts, TYPES)["is_thread"].tolist() == [0.0, 1.0, 1.0]


# ---------------------------------------------------------------------------------------------------------------------
# Ridge


def test_ridge_recovers_an_exact_line_in_raw_units():
    # y = 0.01 + 0.02·quality exactly; every other feature is constant, so only quality can explain y.
    n = 40
    quality = np.linspace(0.1, 0.9, n)
    posts = pd.DataFrame(
        {
            "quality_score": quality,
            "content_type": "educational",
            "posted_hour": 9,
            "decision_type": "single",
            "posted_at": pd.date_range("2025-02-01", periods=n, freq="h"),
            "engagement_rate": 0.01 + 0.02 * quality,
        }
    )
    model = train_engagement_model(posts, TYPES, min_samples=10, alpha=1e-10)
    assert model.trained and model.source == "learned"
    assert (model.n_samples, model.n_train, model.n_holdout) == (40, 32, 8)

    intercept, coefficients = raw_unit_coefficients(model.to_json())
    assert intercept == pytest.approx(0.01, abs=1e-8)
    assert coefficients["quality_score"] == pytest.approx(0.02, abs=1e-8)
    assert all(abs(v) < 1e-12 for k, v in coefficients.items() if k != "quality_score")
    # In standardised space the quality coefficient is 0.02 × the standard deviation of quality over the rows the
    # served model was fitted on: all 40 (the 32 older ones were only for the holdout's metrics).
    assert model.coefficients["quality_score"] == pytest.approx(0.02 * np.std(quality), rel=1e-6)
    assert model.coefficients["quality_score"] != pytest.approx(0.02 * np.std(quality[:32]), rel=1e-3)

    # The holdout (the 8 newest posts) is predicted exactly; the baseline (train mean) is not.
    assert model.metrics["mae"] == pytest.approx(0.0, abs=1e-9)
    assert model.metrics["r2"] == pytest.approx(1.0, abs=1e-6)
    assert model.metrics["baseline_prediction"] == pytest.approx(0.01 + 0.02 * quality[:32].mean())
    assert model.metrics["baseline_mae"] > 0.004 and model.metrics["baseline_r2"] < 0
    assert model.metrics["beats_baseline"] is True


def test_ridge_json_predictions_equal_sklearn():
    posts = synthetic_posts(150, seed=4)
    model = train_engagement_model(posts, TYPES)
    assert model.trained and model.n_train == 120 and model.n_holdout == 30

    document = json.loads(json.dumps(model.to_json(), allow_nan=False))  # through real JSON text
    # validated on the newest 30, then served as fitted on all 150, its penalty chosen by leave-one-out error
    reference = sklearn_pipeline(RidgeCV(alphas=RIDGE_ALPHAS))
    reference.fit(feature_frame(posts, TYPES), posts["engagement_rate"])
    assert model.hyperparameters["alpha"] == reference.named_steps["model"].alpha_
    assert model.hyperparameters["alpha_by_loo"] == 1.0

    fresh = synthetic_posts(25, seed=99)
    features = feature_frame(fresh, TYPES)
    assert features.isna().any().any()  # imputation is exercised
    expected = np.clip(reference.predict(features), 0, 1)
    assert predict_engagement(document, features) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_the_engagement_model_weighs_each_post_by_its_impressions():
    """A post's engagement rate is a share of its impressions, so a post seen 30 times is a far noisier reading than
    one seen 30,000 times: with impressions the fit is weighted least squares (equal to scikit-learn's RidgeCV given
    the impressions as sample weights, scaled to mean 1) and lands nearer the truth than the unweighted fit."""
    rng = np.random.default_rng(21)
    posts = synthetic_posts(240, seed=21)
    truth = (0.02 + 0.05 * posts["quality_score"].fillna(0.65)).to_numpy()
    posts["impressions"] = np.round(np.exp(rng.uniform(np.log(30), np.log(30_000), len(posts))))
    posts["engagement_rate"] = rng.binomial(posts["impressions"].astype(int), truth) / posts["impressions"]
    posts.loc[7, "impressions"] = np.nan  # no impressions: left out, not weighted as anything

    weighted = train_engagement_model(posts, TYPES)
    unweighted = train_engagement_model(posts.drop(columns="impressions"), TYPES)
    assert weighted.hyperparameters["weighted_by_impressions"] == 1.0
    assert unweighted.hyperparameters["weighted_by_impressions"] == 0.0
    assert (weighted.n_samples, unweighted.n_samples) == (239, 240)

    kept = posts.drop(index=7)
    reference = sklearn_pipeline(RidgeCV(alphas=RIDGE_ALPHAS))
    weights = kept["impressions"].to_numpy()
    reference.fit(feature_frame(kept, TYPES), kept["engagement_rate"], model__sample_weight=weights / weights.mean())
    features = feature_frame(kept, TYPES)
    document = weighted.to_json()
    assert weighted.hyperparameters["alpha"] == reference.named_steps["model"].alpha_
    assert predict_engagement(document, features) == pytest.approx(np.clip(reference.predict(features), 0, 1),
                                                                   rel=1e-9, abs=1e-12)

    def error_against_truth(model: TrainedModel) -> float:
        return float(np.mean((predict_engagement(model.to_json(), features) - truth[kept.index]) ** 2))

    assert error_against_truth(weighted) < 0.75 * error_against_truth(unweighted)  # measured: ~0.5


def test_recency_weights_halve_every_half_life_back_from_the_newest_post():
    posted_at = pd.Series(pd.to_datetime(["2025-03-15", "2025-03-01", "2025-03-08", "2025-02-15"], utc=True))
    newest = posted_at.max()
    assert recency_weights(posted_at, newest, 14.0).tolist() == pytest.approx([1.0, 0.5, 2 ** -0.5, 2 ** -2])
    with pytest.raises(ValueError, match="must be positive"):
        recency_weights(posted_at, newest, 0.0)


def test_with_a_half_life_the_engagement_model_follows_a_changed_audience():
    """80 days of posts; for the first 60 'news' engages more than 'educational', then the audience turns. With a
    7-day half-life the model ranks them as the last weeks do; unweighted, as the older majority did. The fit is
    weighted least squares with the impressions times the recency weights, and the same rows give the same fit
    whenever it is made (the ages count back from the newest row)."""
    rng = np.random.default_rng(4)
    n = 320
    posts = synthetic_posts(n, seed=4).assign(
        posted_at=pd.date_range("2025-01-01", periods=n, freq="6h", tz="UTC"),
        impressions=np.round(rng.uniform(500, 5_000, n)))
    turned = posts["posted_at"] >= pd.Timestamp("2025-03-02", tz="UTC")
    news_effect = np.where(turned, -0.02, 0.02)
    truth = 0.04 + np.where(posts["content_type"] == "news", news_effect, 0.0)
    posts["engagement_rate"] = rng.binomial(posts["impressions"].astype(int), truth) / posts["impressions"]
    probe = pd.DataFrame({"quality_score": 0.7, "content_type": ["news", "educational"], "posted_hour": 12,
                          "decision_type": "single"})

    def news_minus_educational(model: TrainedModel) -> float:
        document = model.to_json()
        news, educational = predict_engagement(document, features_for_models(probe, [document]))
        return float(news - educational)

    types = [*TYPES, "news"]
    recent = train_engagement_model(posts, types, half_life_days=7.0)
    everything = train_engagement_model(posts, types)
    assert recent.hyperparameters["half_life_days"] == 7.0 and "half_life_days" not in everything.hyperparameters
    # measured: -0.011 (the last 20 days' truth: -0.02) and +0.004 (80 days' mean: +0.01)
    assert news_minus_educational(recent) < -0.005 and news_minus_educational(everything) > 0.0

    features = feature_frame(posts, types)
    weights = (posts["impressions"] * recency_weights(posts["posted_at"], posts["posted_at"].max(), 7.0)).to_numpy()
    reference = sklearn_pipeline(RidgeCV(alphas=RIDGE_ALPHAS))
    reference.fit(features, posts["engagement_rate"], model__sample_weight=weights / weights.mean())
    assert predict_engagement(recent.to_json(), features) == pytest.approx(
        np.clip(reference.predict(features), 0, 1), rel=1e-9, abs=1e-12)


def test_the_penalty_follows_the_signal():
    """Leave-one-out picks a light penalty where the features explain engagement and a heavy one where it is noise;
    a given alpha is used as given."""
    posts = synthetic_posts(150, seed=8)
    strong = train_engagement_model(posts, TYPES)
    noise = posts.assign(engagement_rate=0.04 + np.random.default_rng(9).normal(0, 0.004, len(posts)))
    weak = train_engagement_model(noise, TYPES)
    assert strong.hyperparameters["alpha"] <= 100.0  # one strong feature among ~40
    assert weak.hyperparameters["alpha"] == RIDGE_ALPHAS[-1]  # nothing to learn: the heaviest penalty
    fixed = train_engagement_model(noise, TYPES, alpha=3.0)
    assert (fixed.hyperparameters["alpha"], fixed.hyperparameters["alpha_by_loo"]) == (3.0, 0.0)


def test_training_does_not_depend_on_row_order():
    posts = synthetic_posts(120, seed=5)
    ordered = train_engagement_model(posts, TYPES).to_json()
    shuffled = train_engagement_model(posts.sample(frac=1.0, random_state=3), TYPES).to_json()
    assert ordered["coefficients"] == pytest.approx(shuffled["coefficients"], rel=1e-9)
    assert ordered["window_start"] == "2025-01-01T00:00:00+00:00"
    assert ordered["window_end"] == "2025-01-10T22:00:00+00:00"


def test_too_few_samples_are_not_trained_and_cannot_predict():
    posts = synthetic_posts(49, seed=6)
    posts.loc[0, "engagement_rate"] = np.nan  # unknown targets do not count as samples
    model = train_engagement_model(posts, TYPES)
    assert not model.trained
    assert model.reason == "not trained: 48 samples < 50"
    assert model.coefficients == {} and model.n_samples == 48
    with pytest.raises(ValueError, match="not usable"):
        predict_engagement(model.to_json(), feature_frame(posts, TYPES))


# ---------------------------------------------------------------------------------------------------------------------
# Follow model (Poisson)


def test_follow_json_predictions_equal_sklearn_and_metrics_are_sane():
    posts = synthetic_posts(200, seed=8)
    posts["followers_gained"] = np.random.default_rng(8).poisson(0.3 + 2.0 * posts["novelty_score"].fillna(0.5))
    model = train_follow_model(posts, TYPES)
    assert model.trained and model.name == "follow_poisson" and model.target == "followers_gained"
    assert model.hyperparameters["family"] == "poisson" and model.hyperparameters["min_followers"] == 1.0

    document = json.loads(json.dumps(model.to_json(), allow_nan=False))
    reference = sklearn_pipeline(PoissonRegressor(alpha=1.0, max_iter=1000))
    reference.fit(feature_frame(posts, TYPES), posts["followers_gained"])  # served: every row

    features = feature_frame(synthetic_posts(30, seed=77), TYPES)
    expected_count = reference.predict(features)
    assert is_count_model(document) and predict_follow_count(document, features) == pytest.approx(expected_count,
                                                                                                 rel=1e-9)
    with pytest.raises(ValueError, match="not a trained count model of followers"):
        predict_follow_count(seed_default_models(TYPES)[1], features)  # the seed's follow score is a logistic one
    # P(at least one follower) of a Poisson count
    assert predict_follow_probability(document, features) == pytest.approx(1 - np.exp(-expected_count), rel=1e-9)
    at_least_two = json.loads(json.dumps(train_follow_model(posts, TYPES, min_followers=2).to_json()))
    assert predict_follow_probability(at_least_two, features) == pytest.approx(
        1 - np.exp(-expected_count) * (1 + expected_count), rel=1e-9)

    metrics = model.metrics
    for key in ("auc", "accuracy", "precision", "recall", "brier", "baseline_brier", "baseline_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["baseline_auc"] == 0.5
    holdout = posts.sort_values("posted_at").iloc[model.n_train :]
    y = (holdout["followers_gained"] > 0).astype(int)
    assert metrics["mean_followers"] == pytest.approx(holdout["followers_gained"].mean())
    # Baseline brier: always predicting the training base rate p costs mean((y − p)²) on the holdout.
    p = metrics["base_rate"]
    assert metrics["baseline_brier"] == pytest.approx(np.mean((y - p) ** 2))
    assert metrics["baseline_accuracy"] == pytest.approx(np.mean(y == (1 if p > 0.5 else 0)))
    assert metrics["beats_baseline"] == (metrics["brier"] < metrics["baseline_brier"])


def test_the_follow_model_learns_from_counts_where_every_post_won_a_follower():
    """Every post won at least one follower, so the yes/no label says nothing (a logistic model cannot be fitted);
    how many it won still says which posts a follow was likelier for."""
    posts = synthetic_posts(200, seed=12)
    rng = np.random.default_rng(12)
    posts["followers_gained"] = 1 + rng.poisson(np.where(posts["content_type"] == TYPES[0], 4.0, 0.5))
    model = train_follow_model(posts, TYPES)
    assert model.trained and model.metrics["base_rate"] == 1.0
    features = feature_frame(posts, TYPES)
    probability = predict_follow_probability(model.to_json(), features)
    thread = (posts["content_type"] == TYPES[0]).to_numpy()
    assert probability[thread].min() > probability[~thread].max()


def test_stored_logistic_follow_models_still_predict():
    """Versions stored before the count model (named follow_logistic) and the seed defaults are logistic scores."""
    _, seed = seed_default_models(TYPES)
    features = feature_frame(synthetic_posts(5, seed=3), TYPES)
    legacy = {**seed, "name": "follow_logistic"}
    assert predict_follow_probability(legacy, features) == pytest.approx(predict_follow_probability(seed, features))
    with pytest.raises(ValueError, match="expected a model named follow_poisson"):
        predict_follow_probability({**seed, "name": "engagement_ridge"}, features)


def test_one_class_training_set_is_not_trained():
    posts = synthetic_posts(80, seed=9)
    posts["followers_gained"] = 0
    model = train_follow_model(posts, TYPES)
    assert not model.trained
    assert model.reason == "not trained: none of the 64 training posts gained a follower"


def test_one_class_holdout_leaves_auc_undefined():
    posts = synthetic_posts(80, seed=10)
    newest = posts["posted_at"].rank(ascending=False) <= 16
    posts.loc[newest, "followers_gained"] = 0  # the 16 newest posts (the holdout) gained nobody
    model = train_follow_model(posts, TYPES)
    assert model.trained
    assert model.metrics["auc"] is None and model.metrics["recall"] is None
    assert "auc undefined: holdout has class 0 only" in model.reason
    assert model.metrics["accuracy"] is not None and model.metrics["brier"] is not None


def test_unknown_follower_counts_are_not_zero():
    posts = synthetic_posts(60, seed=12)
    posts.loc[:9, "followers_gained"] = np.nan
    model = train_follow_model(posts, TYPES)
    assert model.n_samples == 50


# ---------------------------------------------------------------------------------------------------------------------
# JSON and seed defaults


def test_json_round_trip_is_plain_and_lossless():
    for model in (
        train_engagement_model(synthetic_posts(100, seed=13), TYPES),
        train_follow_model(synthetic_posts(100, seed=14), TYPES),
        train_engagement_model(synthetic_posts(5, seed=15), TYPES),  # an untrained record too
    ):
        document = model.to_json()
        assert_plain_json(document)
        restored = TrainedModel.from_json(json.loads(json.dumps(document, allow_nan=False)))
        assert restored == model
        assert restored.to_json() == document


def test_seed_defaults_are_flagged_and_predict_the_seed_formula():
    ridge, logistic = seed_default_models(TYPES)
    for document in (ridge, logistic):
        assert document["source"] == "seed_default"
        assert document["trained"] is False and document["metrics"] == {}
        assert document["feature_names"] == feature_names(TYPES)
        assert_plain_json(document)

    posts = pd.DataFrame(
        {
            "quality_score": [0.8, None],
            "content_type": ["educational", "news"],
            "posted_hour": [20, 3],
            "decision_type": ["single", "thread"],
            "novelty_score": [0.5, 1.0],
            "expertise_score": [0.6, 0.0],
            "viral_score": [0.5, None],
        }
    )
    features = feature_frame(posts, TYPES)
    # ER = 0.01 + 0.025·quality; a missing quality uses the original's default 0.75.
    assert predict_engagement(ridge, features) == pytest.approx([0.01 + 0.025 * 0.8, 0.01 + 0.025 * 0.75])
    # P(follow) = sigmoid(−0.3 + 0.25·novelty + 0.20·expertise + 0.15·viral); missing viral → 0.5.
    z = np.array([-0.3 + 0.125 + 0.12 + 0.075, -0.3 + 0.25 + 0.0 + 0.075])
    assert predict_follow_probability(logistic, features) == pytest.approx(1 / (1 + np.exp(-z)))
    assert raw_unit_coefficients(ridge) == (0.01, pytest.approx(dict.fromkeys(feature_names(TYPES), 0.0)
                                                                | {"quality_score": 0.025}))


def test_models_are_not_interchangeable():
    ridge, logistic = seed_default_models(TYPES)
    features = feature_frame(synthetic_posts(3, seed=1), TYPES)
    with pytest.raises(ValueError, match="expected a model named engagement_ridge"):
        predict_engagement(logistic, features)
    with pytest.raises(KeyError, match="missing model columns"):
        predict_follow_probability(logistic, features.drop(columns=["viral_score"]))
