"""The offline text generator: one template family per generator persona, no model and no key needed.

Its posts are marked `[offline]` in the topic so nobody mistakes them for a language model's. It exists so the demo,
the evaluation and the tests run anywhere; the OpenAI-compatible generator replaces it when a key is configured.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

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


def _templates_version() -> str:
    text = repr((PERSONA_TEMPLATES, TOPICS, CONTENT_TYPE_FRAMES))
    return "offline@" + hashlib.sha256(text.encode()).hexdigest()[:10]


def generate_offline(generator_name: str, content_type: str, rng: np.random.Generator, *, thread: bool = False) -> Draft:
    templates = PERSONA_TEMPLATES.get(generator_name) or PERSONA_TEMPLATES["humanVoice"]
    topic, practice, dose, evidence = TOPICS[int(rng.integers(len(TOPICS)))]
    body = templates[int(rng.integers(len(templates)))].format(a=topic, b=practice, c=dose, d=evidence)
    frame = CONTENT_TYPE_FRAMES.get(content_type, "{text}")
    text = frame.format(text=body)
    parts: tuple[str, ...] = ()
    if thread:
        parts = (text, f"1/ Why {practice} matters for {topic}.", f"2/ The dose: {dose}.", f"3/ The evidence: {evidence}.")
    return Draft(text=text, topic=f"{topic} [{OFFLINE_MARK}]", generator_name=generator_name,
                 content_type=content_type, thread_parts=parts, prompt_version=OFFLINE_VERSION, model=OFFLINE_MARK)


OFFLINE_VERSION = _templates_version()
