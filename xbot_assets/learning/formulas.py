"""Formulas learned from the account's own winners (issue 17; seed 002's "data-driven viral formulas"), pure.

A post's *structure* is read from its hook and its text: the lead its hook makes ("[surprising stat]"), then what
the rest of the text carries — a specific number, a contrarian turn, evidence, a closing question or call to
action — and its length class (short < 140 characters ≤ medium ≤ 220 < long). A *formula* is a structure that at
least one winner has: a post with engagement rate ≥ `min_er` (2 %) or impressions ≥ `min_impressions` (5,000), the
original's thresholds. Its performance is measured on every gated post with that structure, winners or not (posts,
mean impressions, pooled engagement rate, followers per 1,000 impressions) with a confidence posts / (posts + 5)
that grows with evidence; formulas rank by confidence × engagement rate, so one lucky post does not top the list.
Its example is its best winner's text. Only the account's own posts are read: other accounts' viral posts never
become formulas. A post's structure may come labelled instead (a language model's, in the same vocabulary:
`STRUCTURE_PARTS`); then it is used as given.
"""

from __future__ import annotations

import hashlib
import re

import pandas as pd

MIN_ER = 0.02
MIN_IMPRESSIONS = 5000
CONFIDENCE_PRIOR_POSTS = 5.0
ALL_GENERATORS = "*"
NOT_GENERATORS = ("imported", "unknown")  # posts of these teach the account-wide ranking only

LEADS = {"question": "[question]", "surprising number": "[surprising stat]", "contrarian claim": "[contrarian take]",
         "story": "[personal story]", "list": "[numbered list]", "how-to": "[how-to steps]",
         "myth/fact": "[myth] + [fact]"}
NAMES = {"question": "Question", "surprising number": "Surprising Stat", "contrarian claim": "Contrarian",
         "story": "Story", "list": "List", "how-to": "How-to", "myth/fact": "Myth Buster"}
# The parts a structure is made of after its lead, in the order `post_structure` reads them; with the leads, the
# vocabulary a language model labels structures in (acting/generators/llm_labels.py), so both read the same way.
EXTRA_PARTS = ("[specific number]", "[contrarian take]", "[evidence]", "[question to the reader]", "[call to action]")
STRUCTURE_PARTS = tuple(dict.fromkeys((*LEADS.values(), *EXTRA_PARTS)))  # "[contrarian take]" is both: once
_NUMBER = re.compile(r"\d")
_CONTRARIAN = re.compile(r"\b(but|actually|instead|unpopular|everyone says|otherwise|against)\b", re.I)
_EVIDENCE = re.compile(r"\b(study|studies|trial|cohort|research|data|evidence|meta-analysis|review|tracked|"
                       r"measured|found)\b", re.I)
_ACTION = re.compile(r"\b(try|start|track|pick|add|do this|keep)\b", re.I)

FORMULA_COLUMNS = ["generator_name", "formula_id", "rank", "name", "structure", "hook", "length_class", "example",
                   "example_decision_id", "posts", "winners", "mean_impressions", "engagement_rate", "f_per_1k",
                   "confidence"]


def length_class(text: str) -> str:
    return "short" if len(text) < 140 else "medium" if len(text) <= 220 else "long"


def post_structure(text: str, hook: str) -> str:
    """The structure of one post, e.g. "[surprising stat] + [contrarian take] + [evidence]"."""
    stripped = text.strip()
    first = re.split(r"(?<=[.?!:])\s", stripped, maxsplit=1)[0]  # the opening: the hook's own part
    rest = stripped[len(first):].strip()
    parts = [LEADS.get(hook, f"[{hook}]")]
    if hook != "surprising number" and _NUMBER.search(text):
        parts.append("[specific number]")
    if hook != "contrarian claim" and _CONTRARIAN.search(stripped):  # a turn anywhere: "95% think X, but ..."
        parts.append("[contrarian take]")
    if _EVIDENCE.search(text):
        parts.append("[evidence]")
    last = re.split(r"(?<=[.?!])\s", text.strip())[-1]
    if hook != "question" and rest and last.rstrip().endswith("?"):
        parts.append("[question to the reader]")
    elif rest and _ACTION.search(last):
        parts.append("[call to action]")
    return " + ".join(parts)


def formula_name(structure: str, hook: str, length: str) -> str:
    extras = [p.strip("[]").title() for p in structure.split(" + ")[1:] if p != "[fact]"]
    tail = "".join(f" + {e}" for e in extras[:2])
    return f"{length.title()} {NAMES.get(hook, hook)}{tail}"


def _formula_id(structure: str, length: str) -> str:
    return hashlib.sha256(f"{structure}|{length}".encode()).hexdigest()[:10]


def _performance(posts: pd.DataFrame, keys: list[str]) -> dict[tuple, dict]:
    """Each group's performance (posts, winners, mean impressions, ER, F/1K, confidence), by `keys`, in one pass:
    one groupby rather than a frame per group (the per-group version took ~1.4 ms a group, every cycle)."""
    totals = posts.groupby(keys, sort=False).agg(
        posts=("decision_id", "size"), winners=("is_winner", "sum"), impressions=("_impressions", "sum"),
        mean_impressions=("_impressions", "mean"), engaged=("_engaged", "sum"), followers=("_followers", "sum"))
    out = {}
    for key, row in zip(totals.index, totals.itertuples(index=False), strict=True):
        total, n = float(row.impressions), int(row.posts)
        out[key if isinstance(key, tuple) else (key,)] = {
            "posts": n, "winners": int(row.winners), "mean_impressions": float(row.mean_impressions),
            "engagement_rate": float(row.engaged) / total if total > 0 else None,
            "f_per_1k": float(row.followers) / total * 1000 if total > 0 else None,
            "confidence": n / (n + CONFIDENCE_PRIOR_POSTS),
        }
    return out


def extract_formulas(outcomes: pd.DataFrame, *, min_er: float = MIN_ER,
                     min_impressions: float = MIN_IMPRESSIONS) -> pd.DataFrame:
    """The account's formulas, ranked account-wide (generator_name '*') and per generator on its own posts.

    `outcomes`: decision_id, generator_name, hook, content, impressions, likes, retweets, replies, engagement_rate,
    followers_gained — gated posts of one account — and optionally `structure`: a row that has one (a language
    model's label) keeps it, the others are read by `post_structure`. Posts without text or hook teach nothing here.
    """
    posts = outcomes.dropna(subset=["content", "hook"]).copy()
    if posts.empty:
        return pd.DataFrame(columns=FORMULA_COLUMNS)
    given = posts["structure"] if "structure" in posts else pd.Series(None, index=posts.index, dtype=object)
    posts["structure"] = [s if isinstance(s, str) and s else post_structure(t, h)
                          for s, t, h in zip(given, posts["content"], posts["hook"], strict=True)]
    posts["length_class"] = posts["content"].map(length_class)
    posts["is_winner"] = (posts["engagement_rate"].astype(float) >= min_er) | (
        posts["impressions"].fillna(0).astype(float) >= min_impressions)
    posts["_impressions"] = posts["impressions"].fillna(0).astype(float)
    posts["_engaged"] = posts[["likes", "retweets", "replies"]].fillna(0).astype(float).sum(axis=1)
    posts["_followers"] = posts["followers_gained"].fillna(0).astype(float)
    by_formula = _performance(posts, ["structure", "length_class"])
    by_generator = _performance(posts, ["structure", "length_class", "generator_name"])
    # Each formula's best winner from one sort of all winners (a sort per formula cost ~1 ms each, every cycle).
    best_winners = posts[posts["is_winner"]].sort_values(
        ["engagement_rate", "impressions", "decision_id"], ascending=[False, False, True], kind="stable",
    ).drop_duplicates(["structure", "length_class"]).sort_values(["structure", "length_class"])
    rows = []
    for best in best_winners.itertuples(index=False):
        structure, length, hook = best.structure, best.length_class, str(best.hook)
        base = {"formula_id": _formula_id(structure, length), "name": formula_name(structure, hook, length),
                "structure": structure, "hook": hook, "length_class": length, "example": str(best.content),
                "example_decision_id": str(best.decision_id)}
        rows.append({**base, "generator_name": ALL_GENERATORS, **by_formula[(structure, length)]})
        for key in sorted(k for k in by_generator if k[:2] == (structure, length)):
            if key[2] not in NOT_GENERATORS:
                rows.append({**base, "generator_name": str(key[2]), **by_generator[key]})
    if not rows:
        return pd.DataFrame(columns=FORMULA_COLUMNS)
    table = pd.DataFrame(rows)
    table["score"] = table["confidence"] * table["engagement_rate"].fillna(0.0)
    table = table.sort_values(["generator_name", "score", "posts", "formula_id"],
                              ascending=[True, False, False, True], kind="stable")
    table["rank"] = table.groupby("generator_name").cumcount() + 1
    return table[FORMULA_COLUMNS].reset_index(drop=True)
