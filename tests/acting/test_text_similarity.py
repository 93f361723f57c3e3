"""max_similarity is scikit-learn's TF-IDF cosine fitted on [text, *recent], computed from kept n-gram counts."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from xbot_assets.acting.text_features import max_similarity

WORDS = ("sleep", "caffeine", "study", "trial", "dose", "risk", "the", "a", "of", "myth", "fact", "7", "hours",
         "80%", "night", "light", "melatonin", "Sleep", "REST", "naps")


def _fitted(text: str, recent: list[str]) -> float:
    matrix = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform([text, *recent])
    return float(cosine_similarity(matrix[0], matrix[1:]).max())


def test_equals_a_vectorizer_fitted_on_the_text_and_the_recent_posts():
    rng = np.random.default_rng(20261204)

    def sentence() -> str:
        return " ".join(rng.choice(WORDS, size=int(rng.integers(1, 25))))

    for _ in range(300):
        recent = [sentence() for _ in range(int(rng.integers(1, 30)))]
        text = sentence() if rng.random() < 0.8 else recent[int(rng.integers(len(recent)))]
        assert abs(max_similarity(text, recent) - _fitted(text, recent)) < 1e-12, (text, recent)


def test_edge_cases():
    assert max_similarity("anything", []) == 0.0
    assert abs(max_similarity("same words here", ["other words", "same words here"]) - 1.0) < 1e-12
    # a text with no token (one-letter words and symbols only) is similar to nothing, as the vectorizer says
    assert max_similarity("a ! ?", ["a b c", "sleep well"]) == _fitted("a ! ?", ["a b c", "sleep well"]) == 0.0
