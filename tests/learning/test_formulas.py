"""Formulas from the account's own winners (learning.formulas, pure)."""

from __future__ import annotations

import pandas as pd
import pytest

from xbot_assets.learning.formulas import extract_formulas, formula_name, length_class, post_structure


@pytest.mark.parametrize(("text", "hook", "structure"), [
    ("95% of people think naps are lazy, but a study of 300 nurses found the opposite.", "surprising number",
     "[surprising stat] + [contrarian take] + [evidence]"),
    ("Why do naps work? A trial found 20 minutes is enough. Try it tonight.", "question",
     "[question] + [specific number] + [evidence] + [call to action]"),
    ("I ignored naps for years. Then a colleague showed me her routine.", "story", "[personal story]"),
    ("Myth: naps ruin night sleep. Fact: short ones do not. Will you try one?", "myth/fact",
     "[myth] + [fact] + [question to the reader]"),
])
def test_a_posts_structure_is_read_from_its_hook_and_text(text, hook, structure):
    assert post_structure(text, hook) == structure


def test_names_and_length_classes():
    assert formula_name("[surprising stat] + [contrarian take] + [evidence]", "surprising number", "short") == \
        "Short Surprising Stat + Contrarian Take + Evidence"
    assert [length_class("x" * n) for n in (139, 140, 220, 221)] == ["short", "medium", "medium", "long"]


def _posts(rows):
    return pd.DataFrame([{"decision_id": f"d{i}", "generator_name": g, "hook": h, "content": t, "impressions": imp,
                          "likes": round(er * imp), "retweets": 0, "replies": 0, "engagement_rate": er,
                          "followers_gained": f} for i, (g, h, t, imp, er, f) in enumerate(rows)])


def test_formulas_need_a_winner_and_are_measured_on_every_post_with_their_structure():
    question, story = "Why do naps work?", "I ignored naps for years."
    posts = _posts([
        ("coach", "question", question, 1000, 0.03, 2),     # a winner by ER (>= 2 %)
        ("coach", "question", question, 1000, 0.01, 0),     # same structure, not a winner: still measured
        ("dataNerd", "story", story, 6000, 0.005, 0),       # a winner by views (>= 5,000)
        ("dataNerd", "story", story, 1000, 0.004, 0),
        ("imported", "list", "3 ways to nap.", 1000, 0.01, 0),  # no winner: no formula
    ])
    table = extract_formulas(posts)
    overall = table[table["generator_name"] == "*"].set_index("hook")
    assert set(overall.index) == {"question", "story"}
    q = overall.loc["question"]
    assert (q["posts"], q["winners"], q["example"]) == (2, 1, question)
    assert q["engagement_rate"] == pytest.approx(40 / 2000) and q["f_per_1k"] == pytest.approx(1.0)
    assert q["confidence"] == pytest.approx(2 / 7) and q["rank"] == 1  # 2/7 x 2 % beats 2/7 x 0.49 %
    assert set(table["generator_name"]) == {"*", "coach", "dataNerd"}  # imported posts rank only account-wide
    stricter = extract_formulas(posts, min_er=0.05, min_impressions=10_000)
    assert stricter.empty


def test_more_evidence_means_more_confidence_and_no_text_teaches_nothing():
    few = extract_formulas(_posts([("coach", "question", "Why?", 1000, 0.05, 0)]))
    many = extract_formulas(_posts([("coach", "question", "Why?", 1000, 0.05, 0)] * 20))
    assert few["confidence"].iloc[0] < many["confidence"].iloc[0] < 1
    assert extract_formulas(_posts([("coach", None, None, 1000, 0.05, 0)])).empty
