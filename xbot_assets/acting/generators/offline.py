"""The offline text generator: one template family per generator persona, no model and no key needed.

Its posts are marked `[offline]` in the topic so nobody mistakes them for a language model's. It exists so the demo,
the evaluation and the tests run anywhere; the OpenAI-compatible generator replaces it when a key is configured.
Without a profile it writes the simulator's health niche (`generate_offline`); with one it writes on the profile's
topics for its audience (`generate_offline_on`), in English only — the templates are English.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from xbot_assets.acting.text_features import MAX_SINGLE_LENGTH, weighted_length

OFFLINE_MARK = "offline"

TOPICS = (
    ("sleep", "deep sleep", "7 hours", "a 2019 cohort of 4,000 adults"),
    ("hydration", "water intake", "2 litres", "a trial with 300 runners"),
    ("strength", "resistance training", "2 sessions a week", "a 10-year study of 30,000 people"),
    ("walking", "daily steps", "7,000 steps", "a meta-analysis of 15 studies"),
    ("sunlight", "morning light", "10 minutes", "a lab study with 120 shift workers"),
    ("fiber", "dietary fiber", "30 grams", "a review of 185 prospective studies"),
    ("stress", "slow breathing", "5 minutes", "a randomised trial of 108 adults"),
    ("caffeine", "caffeine timing", "8 hours before bed", "a sleep-lab study of 12 volunteers"),
)

# One template family per persona; {a} topic, {b} practice, {c} dose, {d} evidence.
PERSONA_TEMPLATES: dict[str, tuple[str, ...]] = {
    "humanVoice": (
        "I ignored {b} for years. Then I tried {c} for a month. Honestly? The difference in how I feel about {a} surprised me.",
        "Small confession: {b} was never my thing. {c} changed that, and it was easier than I expected.",
    ),
    "newsReporter": (
        "New: {d} links {b} to better {a} outcomes. The threshold that mattered was {c}.",
        "Reported this week: {d} found {c} of {b} made a measurable difference to {a}.",
    ),
    "storyteller": (
        "A nurse told me why she never skips {b}. After {d}, she started doing {c}. Her {a} story is worth a minute.",
        "Two friends, same job, same age. One did {c} of {b}. Ten years later their {a} looks nothing alike.",
    ),
    "interesting": (
        "Strange but true: {c} of {b} shifts {a} more than most supplements do, according to {d}.",
        "The least-talked-about lever for {a}? {b}. {d} put the useful dose at {c}.",
    ),
    "provocateur": (
        "Unpopular opinion: your {a} problem is not genetics. It is skipping {b}. {c} is all it takes.",
        "Stop buying gadgets for {a}. {b} at {c} beats them, and {d} agrees.",
    ),
    "dataNerd": (
        "{d}: people hitting {c} of {b} had 23% better {a} markers than those below it.",
        "Numbers on {a}: below {c} of {b}, risk climbs 18%; above it, the curve flattens ({d}).",
    ),
    "mythBuster": (
        "Myth: {a} is fixed by willpower. Fact: {d} shows {b} at {c} does more than motivation.",
        "You have heard that {b} barely matters for {a}. {d} says otherwise: {c} is the line.",
    ),
    "coach": (
        "This week's one change for {a}: {c} of {b}. Start today, track it for 7 days, keep what works.",
        "Try this: add {c} of {b} after lunch. Your {a} will thank you within a fortnight.",
    ),
    "thoughtLeader": (
        "The future of {a} is boring: consistent {b}. {d} keeps pointing to {c}. Systems beat intensity.",
        "We overcomplicate {a}. The evidence ({d}) keeps landing on {b} at about {c}.",
    ),
    "contrarian": (
        "Everyone says more {b} is better for {a}. {d} suggests {c} is enough and more adds little.",
        "Against the crowd: {a} does not need extremes. {c} of {b} captured most of the benefit in {d}.",
    ),
    "explorer": (
        "Exploring {a} today: what happens at {c} of {b}? {d} mapped it, and the shape of the curve is fascinating.",
        "Field notes on {a}: {b}, {c}, and the surprising results from {d}.",
    ),
    "philosopher": (
        "What is {a} worth if we trade it for busyness? {b} at {c} is a quiet answer ({d}).",
        "Perhaps {a} is less about doing more and more about {b}. {d} found {c} was enough.",
    ),
}

# The same personas on any topic: {t} the profile's topic, {u} its audience. No evidence slot: the templates
# cannot know a study, so they make no claim beyond the writer's own practice.
PROFILE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "humanVoice": (
        "I ignored {t} for 3 years. Then I gave it 15 minutes a day for a month. Honestly? It changed how I work.",
        "Small confession: {t} was never my thing. 2 weeks of doing it badly taught me more than 10 articles did.",
    ),
    "newsReporter": (
        "New: {t} is what {u} keep asking about. 3 things changed this year, and 1 of them matters most.",
        "This week in {t}: 2 questions from {u} came up again and again. Here are both, answered in 1 line each.",
    ),
    "storyteller": (
        "A friend asked me about {t} 2 years ago. I had no answer. 100 conversations later, here is the 1 I give.",
        "Two people, same goal, same start. One spent 10 minutes a day on {t}. A year later they look nothing alike.",
    ),
    "interesting": (
        "Strange but true: 1 small habit around {t} does more than 5 expensive fixes. Most {u} skip it.",
        "The least-talked-about lever in {t}? Doing it at the same time every day. 3 weeks is enough to tell.",
    ),
    "provocateur": (
        "Unpopular opinion: 90% of the advice on {t} is noise. 2 habits do the work. The rest is decoration.",
        "Stop collecting tips on {t}. Pick 1, do it for 30 days, then decide. {U} who do this pull ahead.",
    ),
    "dataNerd": (
        "I tracked {t} for 90 days: 2 numbers moved, 5 did not. Measure before you change 3 things at once.",
        "Numbers on {t}: 1 change a week for 8 weeks beats 8 changes in week 1. Count what you keep, not what you try.",
    ),
    "mythBuster": (
        "Myth: {t} needs hours a day. Fact: 20 focused minutes, 5 days a week, is where most {u} see results.",
        "You have heard that {t} takes talent. 3 months of practice says otherwise: 1 routine is the line.",
    ),
    "coach": (
        "This week's 1 change for {t}: 10 minutes, same time each day. Track it for 7 days, keep what works.",
        "Try this: 1 question about {t} before lunch, written down. After 14 days, read them back.",
    ),
    "thoughtLeader": (
        "The future of {t} is boring: 1 habit, kept for 12 months. Systems beat intensity, 9 times out of 10.",
        "We overcomplicate {t}. For most {u}, 2 basics done daily outrun 20 clever tricks done once.",
    ),
    "contrarian": (
        "Everyone says more is better for {t}. After 2 years, I think 1 hour a week is enough and more adds little.",
        "Against the crowd: {t} does not need extremes. 3 steady habits captured most of the benefit for me.",
    ),
    "explorer": (
        "Exploring {t} today: what happens after 30 days of 1 small daily step? 4 things surprised me.",
        "Field notes on {t}, week 6: 2 experiments worked, 3 failed, and the failures taught me more.",
    ),
    "philosopher": (
        "What is {t} worth if we rush it? 10 quiet minutes a day may be the only answer that lasts 10 years.",
        "Perhaps {t} is less about doing more and more about doing 1 thing well. {U} know this in their bones.",
    ),
}
PROFILE_THREAD_STEPS = (
    "1/ What {t} is, in 1 line, for {u}.",
    "2/ The 3 mistakes most people make with it.",
    "3/ 1 change to try for 7 days.",
    "4/ How to tell after 2 weeks whether it worked.",
    "5/ What to do next if it did not.",
    "6/ The 1 habit that keeps it going.",
    "7/ 3 questions to ask yourself each month.",
    "8/ What I would tell myself 1 year ago.",
    "9/ The short version: 1 habit, 7 days, then decide.",
)

# One opening line per hook type (issue 17), put before the persona's body: the hook is how the post opens, so the
# classifier (ingest.hooks, which reads the opening sentence) reads each one as its own type.
HOOK_OPENERS: dict[str, str] = {
    "question": "Is {b} the most underrated lever for {a}?",
    "surprising number": "23% better {a} markers came with {c} of {b}.",
    "contrarian claim": "Unpopular opinion: {b} matters more for {a} than any supplement.",
    "story": "I ignored {b} for 3 years.",
    "list": "3 things nobody says about {b}:",
    "how-to": "How to get {b} right for {a} in 7 days:",
    "myth/fact": "Myth: {b} barely matters for {a}.",
}
PROFILE_HOOK_OPENERS: dict[str, str] = {
    "question": "What would change if you gave {t} 10 minutes a day?",
    "surprising number": "9 in 10 {u} never measure their {t}.",
    "contrarian claim": "Unpopular opinion: {t} is simpler than the experts make it.",
    "story": "I got {t} wrong for 2 years.",
    "list": "3 mistakes I keep seeing in {t}:",
    "how-to": "How to start with {t} in 10 minutes a day:",
    "myth/fact": "Myth: {t} takes hours a day.",
}

CONTENT_TYPE_FRAMES: dict[str, str] = {
    "educational_thread": "🧵 {text} Here is how it works, step by step.",
    "factual_single": "{text}",
    "myth_busting": "{text} Myth, meet evidence.",
    "wellness_tip": "Tip: {text}",
}


@dataclass(frozen=True)
class Draft:
    text: str
    topic: str
    generator_name: str
    content_type: str
    thread_parts: tuple[str, ...]
    prompt_version: str | None = None  # which version of the generator wrote it (a persona prompt's, or the templates')
    model: str | None = None  # the language model's name, or "offline"
    examples: tuple[str, ...] = ()  # viral posts shown to the writer as structure: the draft must not copy them
    formula: str | None = None  # the learned formula the writer followed (learn/formulas), if any


def _templates_version() -> str:
    text = repr((PERSONA_TEMPLATES, TOPICS, CONTENT_TYPE_FRAMES, PROFILE_TEMPLATES, PROFILE_THREAD_STEPS, HOOK_OPENERS,
                 PROFILE_HOOK_OPENERS))
    return "offline@" + hashlib.sha256(text.encode()).hexdigest()[:10]


def _formula_for(hook: str | None, formulas: Sequence[Mapping] | None) -> Mapping | None:
    """The best learned formula that opens with the asked hook (they come best first)."""
    return next((f for f in formulas or () if hook is not None and f.get("hook") == hook), None)


def _hooked(opener: str | None, framed: str, short: str, formula: Mapping | None) -> str:
    """The opener before the framed body; the body's first sentence only when the formula that worked is a short
    post or the whole would not fit X's 280."""
    if opener is None:
        return framed
    if (formula or {}).get("length") == "short" or weighted_length(f"{opener} {framed}") > MAX_SINGLE_LENGTH:
        return f"{opener} {short}"
    return f"{opener} {framed}"


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.?!])(\s|$)", text)
    return match.group(1) if match else text


def generate_offline(generator_name: str, content_type: str, rng: np.random.Generator, *, thread: bool = False,
                     topic: str | None = None, hook: str | None = None,
                     formulas: Sequence[Mapping] | None = None) -> Draft:
    """A templated post on the simulator's health niche: on `topic` when it is one of TOPICS (else drawn), opening
    with `hook` when asked (HOOK_OPENERS), shaped by the best formula for that hook when one is given."""
    templates = PERSONA_TEMPLATES.get(generator_name) or PERSONA_TEMPLATES["humanVoice"]
    # A trending label ("sleep for night nurses") is written on the niche topic it names.
    named = [row for row in TOPICS if row[0] == topic] or [row for row in TOPICS if topic and row[0] in topic.lower()]
    topic, practice, dose, evidence = named[0] if named else TOPICS[int(rng.integers(len(TOPICS)))]
    body = templates[int(rng.integers(len(templates)))].format(a=topic, b=practice, c=dose, d=evidence)
    frame = CONTENT_TYPE_FRAMES.get(content_type, "{text}")
    formula = _formula_for(hook, formulas)
    opener = HOOK_OPENERS[hook].format(a=topic, b=practice, c=dose, d=evidence) if hook in HOOK_OPENERS else None
    text = _hooked(opener, frame.format(text=body), _first_sentence(body), formula)
    parts: tuple[str, ...] = ()
    if thread:
        parts = (text, f"1/ Why {practice} matters for {topic}.", f"2/ The dose: {dose}.", f"3/ The evidence: {evidence}.")
    return Draft(text=text, topic=f"{topic} [{OFFLINE_MARK}]", generator_name=generator_name,
                 content_type=content_type, thread_parts=parts, prompt_version=OFFLINE_VERSION, model=OFFLINE_MARK,
                 formula=formula["name"] if formula else None)


def generate_offline_on(topic: str, audience: str | None, generator_name: str, content_type: str,
                        rng: np.random.Generator, *, thread: bool = False, thread_parts: int = 4,
                        hook: str | None = None, formulas: Sequence[Mapping] | None = None) -> Draft:
    """A templated post on a profile's topic; a thread is its head and `thread_parts - 1` numbered steps."""
    templates = PROFILE_TEMPLATES.get(generator_name) or PROFILE_TEMPLATES["humanVoice"]
    reader = audience or "most people"
    body = templates[int(rng.integers(len(templates)))].format(t=topic, u=reader, U=reader[:1].upper() + reader[1:])
    formula = _formula_for(hook, formulas)
    opener = PROFILE_HOOK_OPENERS[hook].format(t=topic, u=reader) if hook in PROFILE_HOOK_OPENERS else None
    text = _hooked(opener, CONTENT_TYPE_FRAMES.get(content_type, "{text}").format(text=body), _first_sentence(body),
                   formula)
    parts: tuple[str, ...] = ()
    if thread:
        steps = PROFILE_THREAD_STEPS[:max(1, min(thread_parts, len(PROFILE_THREAD_STEPS) + 1) - 1)]
        parts = (text, *(step.format(t=topic, u=reader) for step in steps))
    return Draft(text=text, topic=f"{topic} [{OFFLINE_MARK}]", generator_name=generator_name,
                 content_type=content_type, thread_parts=parts, prompt_version=OFFLINE_VERSION, model=OFFLINE_MARK,
                 formula=formula["name"] if formula else None)


OFFLINE_VERSION = _templates_version()
