"""Scores computed from a post's text: the quality gate, novelty, expertise and viral indicators — all on 0–1.

Each is explainable: it returns the reasons that made the number, so a rejected candidate says why.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

MAX_SINGLE_LENGTH = 280
NEAR_DUPLICATE_SIMILARITY = 0.8
FILLER = ("amazing", "incredible", "let's dive in", "game-changer", "mind-blowing", "you won't believe")
EXPERT_TERMS = (
    "study", "studies", "trial", "cohort", "meta-analysis", "review", "evidence", "randomised", "randomized",
    "markers", "risk", "dose", "threshold", "prospective",
)
_NUMBER = re.compile(r"\d[\d,.]*%?")


@dataclass(frozen=True)
class Score:
    value: float
    reasons: tuple[str, ...]


def max_similarity(text: str, recent: Sequence[str]) -> float:
    """Highest TF-IDF cosine similarity between the text and any recent post (0 when there are none).

    The TF-IDF of scikit-learn's TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True) fitted on [text, *recent]
    (its analyzer, smoothed idf, 1 + log tf, l2 norm; tests/acting/test_text_similarity.py holds them equal), computed
    from each text's n-gram counts, which are kept: the planner scores every candidate against the same recent
    posts, and re-fitting a vectorizer per candidate cost ~3 ms of its ~26 ms."""
    if not recent:
        return 0.0
    docs = [_ngram_counts(text), *(_ngram_counts(r) for r in recent)]
    frequency: Counter[str] = Counter()
    for counts in docs:
        frequency.update(counts.keys())
    n = len(docs)
    idf = {term: math.log((1 + n) / (1 + df)) + 1.0 for term, df in frequency.items()}

    def weights(counts: dict[str, int]) -> dict[str, float]:
        raw = {term: (1.0 + math.log(tf)) * idf[term] for term, tf in counts.items()}
        norm = math.sqrt(sum(w * w for w in raw.values()))
        return {term: w / norm for term, w in raw.items()} if norm else {}

    mine = weights(docs[0])
    best = 0.0
    for counts in docs[1:]:
        other = weights(counts)
        best = max(best, sum(w * other.get(term, 0.0) for term, w in mine.items()))
    return float(best)


@lru_cache(maxsize=4096)
def _ngram_counts(text: str) -> dict[str, int]:
    """The text's word unigrams and bigrams as scikit-learn's default word analyzer makes them (lowercased, tokens
    of two or more word characters, a bigram being two tokens joined by a space): tested equal to it. Not imported
    from it: scikit-learn costs 1–4 s to import, which a planning run paid for this tokenizer alone."""
    tokens = _TOKEN.findall(text.lower())
    return dict(Counter([*tokens, *(f"{a} {b}" for a, b in zip(tokens, tokens[1:]))]))


_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern


def novelty_score(text: str, recent: Sequence[str], similarity: float | None = None) -> float:
    """1 − the closest match among the recent posts (the last 7 days by default)."""
    return round(1.0 - (max_similarity(text, recent) if similarity is None else similarity), 6)


_LINK = re.compile(r"https?://\S+", re.I)
# twitter-text v3: these code points weigh 1, every other one 2 (CJK, most emoji); a link weighs 23 whatever it is.
_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
LINK_WEIGHT = 23
# The code points outside _LIGHT, which weigh 2: counted in one regex pass (a per-character loop cost the planner
# ~1 ms a candidate).
_HEAVY = re.compile("[^" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _LIGHT) + "]")


def weighted_length(text: str) -> int:
    """The length X counts against its 280 limit: links 23 each, emoji and CJK 2 per code point, the rest 1."""
    links = _LINK.findall(text)
    rest = _LINK.sub("", text)
    return LINK_WEIGHT * len(links) + len(rest) + len(_HEAVY.findall(rest))


def quality_score(text: str, recent: Sequence[str] = (), similarity: float | None = None) -> Score:
    """One 0–1 scale: length 0.25, hook 0.2, specificity 0.25, no filler 0.15, originality 0.15.

    `similarity` is max_similarity(text, recent) when the caller has it already (the planner computes it once for
    both this score and novelty)."""
    reasons: list[str] = []
    weighted = weighted_length(text)  # X's own limit; the length band below is about reading, in characters
    if weighted > MAX_SINGLE_LENGTH:
        return Score(0.0, (f"too long: weighted length {weighted} > {MAX_SINGLE_LENGTH}",))
    length = len(text)
    score = 0.0
    if 100 <= length <= 250:
        score += 0.25
    elif 60 <= length:
        score += 0.10
        reasons.append(f"length {length} outside 100–250")
    else:
        reasons.append(f"too short: {length} characters")
    first = re.split(r"(?<=[.!?:])\s", text.strip(), maxsplit=1)[0]
    if _NUMBER.search(first) or "?" in first or first.lower().startswith(("myth", "stop", "unpopular", "new:")):
        score += 0.20
    else:
        reasons.append("no hook in the first sentence")
    numbers = len(_NUMBER.findall(text))
    specificity = min(1.0, numbers / 2)
    score += 0.25 * specificity
    if numbers < 2:
        reasons.append(f"{numbers} specific number(s)")
    lowered = text.lower()
    filler = [w for w in FILLER if w in lowered] + (["starts with 'did you know'"] if lowered.startswith("did you know") else [])
    if filler:
        reasons.append("filler: " + ", ".join(filler))
    else:
        score += 0.15
    similarity = max_similarity(text, recent) if similarity is None else similarity
    if similarity >= NEAR_DUPLICATE_SIMILARITY:
        reasons.append(f"near duplicate of a recent post (similarity {similarity:.2f})")
    else:
        score += 0.15 * (1.0 - similarity / NEAR_DUPLICATE_SIMILARITY)
    return Score(round(min(1.0, score), 6), tuple(reasons))


def expertise_score(text: str) -> float:
    """Share of the expert vocabulary present, saturating at four distinct terms, plus a bonus for figures."""
    lowered = text.lower()
    terms = sum(1 for term in EXPERT_TERMS if term in lowered)
    figures = len(_NUMBER.findall(text))
    return round(min(1.0, 0.2 * min(terms, 4) + 0.1 * min(figures, 2)), 6)


def viral_score(text: str) -> float:
    """Hook strength: a number early, a question, a bold claim, a contrast, brevity — each adds, capped at 1."""
    lowered = text.lower()
    first_words = " ".join(text.split()[:7])
    score = 0.0
    if _NUMBER.search(first_words):
        score += 0.25
    if "?" in text:
        score += 0.15
    if any(w in lowered for w in ("unpopular", "stop", "myth", "nobody", "everyone says", "against the crowd")):
        score += 0.3
    if any(w in lowered for w in ("but", "instead", "otherwise", "fact:")):
        score += 0.15
    if len(text) <= 180:
        score += 0.15
    return round(min(1.0, score), 6)
