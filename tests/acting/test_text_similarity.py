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


def test_ngram_counts_equal_scikit_learns_word_analyzer():
    from collections import Counter

    from xbot_assets.acting.text_features import _ngram_counts

    analyzer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).build_analyzer()
    texts = ["Sleep 7–9 hours: 80% of adults don't. #sleep @coach", "Café naïve ÉTUDE — über_cool snake_case x2",
             "Thread 🧵 1/5\nLight at night → melatonin ↓", "I a b  c", "", "!!! ???", "日本語のテキスト と 英語 text",
             "don't can't it's — o'clock", "1,000 mg vs 1.5mg; dose-response", "https://example.com/a?b=c link"]
    rng = np.random.default_rng(7)
    texts += [" ".join(rng.choice([*WORDS, "é", "ß", "İstanbul", "ǅ", "٣٤", "x_y"], size=12)) for _ in range(50)]
    for text in texts:
        assert _ngram_counts(text) == dict(Counter(analyzer(text))), text
