"""The hook of a post: how its opening line grabs a reader, one of seven types, classified by rules (pure).

The opening sentence decides (a reader sees it before anything else); the rules are tried in a fixed order so a
text that matches several gets the most specific one: myth/fact, how-to, list, question, story, contrarian claim,
surprising number. A text with no marker at all is a plain claim: "surprising number" if it has a number anywhere,
else "contrarian claim". It lives in `ingest` because imported history is classified on the way in; the planner
(`acting`) uses it to check that a draft carries the hook it was asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The same seven the language-model prompt offers (acting/generators/personas.py HOOKS; a test keeps them equal).
HOOK_TYPES = ("question", "surprising number", "contrarian claim", "story", "list", "how-to", "myth/fact")

_OPENING = re.compile(r"^(.+?(?:[.?!:](?=\s|$)|\n|$))", re.S)
_LEAD_MARKS = re.compile(r"^[\s\W_]*?(?=[\w\"'])")  # emoji, 🧵, bullets before the first word
_NUMBER = re.compile(r"\d[\d,.]*\s?(%|x\b|times\b|percent\b)?", re.I)
_COUNT_WORDS = r"(\d+|two|three|four|five|six|seven|eight|nine|ten)"

_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("myth/fact", re.compile(r"\bmyths?\b|\bfact:|\bdebunk|\bnot true\b|\bmisconception|\byou have heard that\b",
                             re.I), "names a myth or a fact check"),
    ("how-to", re.compile(r"^(how to|here'?s how|here is how|try this|tip:|step 1|do this|the fix:|a simple way)",
                          re.I), "opens with an instruction"),
    ("list", re.compile(rf"^{_COUNT_WORDS}\s+(\w+\s+)?(things|ways|mistakes|habits|reasons|signs|tips|lessons|rules|"
                        rf"steps|questions|myths|facts)\b", re.I), "opens by counting items"),
    ("question", re.compile(r"\?"), "opens with a question"),
    ("story", re.compile(r"^(i |i'|my |when i |last (year|week|month)|yesterday|years ago|once\b|a (friend|nurse|"
                         r"client|patient|reader|colleague)|two (people|friends|nurses))", re.I),
     "opens on a moment or a person"),
    ("contrarian claim", re.compile(r"unpopular opinion|everyone says|\bstop\b|contrary|against the crowd|overrated|"
                                    r"wrong about|\bis a lie\b|nobody tells you|hot take|\bactually\b|\bnot\b.*\bbut\b",
                                    re.I), "goes against a common view"),
    ("surprising number", re.compile(r"\d"), "leads with a number"),
)


@dataclass(frozen=True)
class HookClass:
    hook: str
    reason: str


def opening(text: str) -> str:
    """The first sentence (up to . ? ! : or a line break), without leading emoji or bullets."""
    stripped = _LEAD_MARKS.sub("", text.strip(), count=1)
    match = _OPENING.match(stripped)
    return (match.group(1) if match else stripped).strip()


def classify_hook(text: str) -> HookClass:
    """The hook type of a post's text and the rule that decided it."""
    first = opening(text)
    for hook, rule, why in _RULES:
        if rule.search(first):
            return HookClass(hook, f"rule: {why}")
    if _NUMBER.search(text):
        return HookClass("surprising number", "no marker in the opening; the text gives a number")
    return HookClass("contrarian claim", "no marker in the opening: a plain claim")


def hook_of(text: str | None) -> str | None:
    """The hook type, or None for a post without text."""
    return classify_hook(text).hook if text and text.strip() else None
