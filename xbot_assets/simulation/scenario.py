"""Scenario files: the known ground truth of a synthetic X audience (PRODUCT §7).

A scenario is a YAML mapping. The keys of PRODUCT §7 are kept exactly; the extra keys below all have defaults.

Required: ``name``, ``content_types``, ``generators``. Everything else is optional:

======================================  ======================  =====================================================
key                                     default                 meaning
======================================  ======================  =====================================================
name                                    (required)              label
seed                                    7                       master seed of every random stream
start                                   "2026-01-01T00:00:00Z"  simulated day 0 (ISO 8601; naive means UTC)
timezone                                UTC                     IANA zone used for the posting hour
followers                               1000                    starting follower count
posts_per_day                           4                       cadence the evaluation should use
impressions                             {median: 900, sigma: 0.8}  lognormal impressions per post, before hour effects
content_types                           (required)              true engagement rate by content type, in [0, 1]
hour_multiplier                         {}                      {hour 0-23: multiplier > 0}; others 1.0; scales
                                                                impressions and ER
quality_effect                          0.025                   ER added per +0.1 quality above 0.7 (negative below)
generators                              (required)              true followers per 1000 impressions (>= 0)
drift                                   []                      [{day, content_types?, generators?}]: from that day on
                                                                the given values replace the old ones (names not given
                                                                keep their previous value; names must already exist)
description                             ""                      free text
organic_followers_per_day               2.0                     Poisson follower growth not due to posts
follower_noise                          0.0                     std of the measurement noise of the follower count
engagement_half_life_hours              3.0                     accrual of likes/retweets/replies/quotes/bookmarks/
                                                                url clicks
impressions_half_life_hours             8.0                     accrual of impressions
follows_half_life_hours                 4.0                     accrual of follows and profile clicks
profile_click_rate                      0.01                    profile visits per impression that do NOT end in a
                                                                follow (every follow is a visit too)
engagement_split                        {likes: .75, retweets: .15, replies: .10}   how engagements divide
quote_rate                              0.0004                  quotes per impression (not part of ER)
bookmark_rate                           0.002                   bookmarks per impression (not part of ER)
url_click_rate                          0.001                   link clicks per impression (not part of ER)
thread_impressions_multiplier           1.0                     impressions multiplier when ``is_thread``
success_er_threshold                    0.03                    a content arm "succeeds" when observed ER > this
topic_effects                           {}                      {topic: {engagement?, follows?}}: true multipliers of
                                                                the ER and the F/1K of a post on that topic arm
hook_effects                            {}                      {hook type: {engagement?, follows?}}: the same for the
                                                                post's hook type
======================================  ======================  =====================================================

Topic and hook effects (issue 17): a post's topic arm and hook type (what the planner chose) multiply its true ER
(before clipping to [0, 1]) and its true F/1K. A multiplier not given is 1.0, a topic or hook not listed (or a post
without one) has both at 1.0, so a scenario without effects simulates exactly as before. Give every arm the learner
can choose when setting effects: the truth's best topic and hook are the best of those listed.

The engagement rate (ER) of the truth is (likes + retweets + replies) / impressions.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

#: Where the scenario files shipped with the project live (``/work/main/scenarios``).
SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "scenarios"

ENGAGEMENT_FIELDS = ("likes", "retweets", "replies")

_REQUIRED = ("name", "content_types", "generators")
_DEFAULTS: dict[str, Any] = {
    "description": "",
    "seed": 7,
    "start": "2026-01-01T00:00:00Z",
    "timezone": "UTC",
    "followers": 1000,
    "posts_per_day": 4,
    "impressions": {"median": 900, "sigma": 0.8},
    "hour_multiplier": {},
    "quality_effect": 0.025,
    "drift": [],
    "organic_followers_per_day": 2.0,
    "follower_noise": 0.0,
    "engagement_half_life_hours": 3.0,
    "impressions_half_life_hours": 8.0,
    "follows_half_life_hours": 4.0,
    "profile_click_rate": 0.01,
    "engagement_split": {"likes": 0.75, "retweets": 0.15, "replies": 0.10},
    "quote_rate": 0.0004,
    "bookmark_rate": 0.002,
    "url_click_rate": 0.001,
    "thread_impressions_multiplier": 1.0,
    "success_er_threshold": 0.03,
    "topic_effects": {},
    "hook_effects": {},
    "reported_follows": True,
}
_KNOWN = set(_REQUIRED) | set(_DEFAULTS)
_DRIFT_KEYS = {"day", "content_types", "generators"}
EFFECT_KEYS = ("engagement", "follows")


# --------------------------------------------------------------------------------------------- validation helpers
def _fail(key: str, msg: str) -> ValueError:
    return ValueError(f"scenario key '{key}': {msg}")


def _number(key: str, value: Any, *, lo: float | None = None, hi: float | None = None,
            lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise _fail(key, f"expected a finite number, got {value!r}")
    v = float(value)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise _fail(key, f"{v} must be {'>' if lo_open else '>='} {lo}")
    if hi is not None and v > hi:
        raise _fail(key, f"{v} must be <= {hi}")
    return v


def _integer(key: str, value: Any, *, lo: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise _fail(key, f"expected an integer, got {value!r}")
    if lo is not None and value < lo:
        raise _fail(key, f"{value} must be >= {lo}")
    return int(value)


def _mapping(key: str, value: Any, *, nonempty: bool = False) -> dict:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise _fail(key, f"expected a mapping, got {type(value).__name__}")
    if nonempty and not value:
        raise _fail(key, "must not be empty")
    return value


def _rates(key: str, value: Any, *, nonempty: bool = True) -> dict[str, float]:
    m = _mapping(key, value, nonempty=nonempty)
    return {str(k): _number(f"{key}.{k}", v, lo=0.0, hi=1.0) for k, v in m.items()}


def _f_per_1k(key: str, value: Any, *, nonempty: bool = True) -> dict[str, float]:
    m = _mapping(key, value, nonempty=nonempty)
    return {str(k): _number(f"{key}.{k}", v, lo=0.0) for k, v in m.items()}


def _effects(key: str, value: Any) -> dict[str, dict[str, float]]:
    """{arm: {engagement: m > 0, follows: m >= 0}}; a multiplier not given is 1.0."""
    out: dict[str, dict[str, float]] = {}
    for arm, given in _mapping(key, value).items():
        if not isinstance(arm, str) or not arm.strip():
            raise _fail(f"{key}.{arm}", "expected a non-empty name")
        given = _mapping(f"{key}.{arm}", given)
        for k in given:
            if k not in EFFECT_KEYS:
                raise _fail(f"{key}.{arm}.{k}", f"unknown key (expected {', '.join(EFFECT_KEYS)})")
        out[arm] = {
            "engagement": _number(f"{key}.{arm}.engagement", given.get("engagement", 1.0), lo=0.0, lo_open=True),
            "follows": _number(f"{key}.{arm}.follows", given.get("follows", 1.0), lo=0.0),
        }
    return out


def _parse_start(value: Any) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _fail("start", f"not an ISO 8601 timestamp: {value!r}") from None
    else:
        raise _fail("start", f"expected an ISO 8601 string, got {value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _as_utc(at: datetime) -> datetime:
    """Naive datetimes are taken as UTC."""
    if at.tzinfo is None:
        return at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc)


# --------------------------------------------------------------------------------------------- dataclasses
@dataclass(frozen=True)
class Truth:
    """The truths in force on one simulated day."""

    day: int
    content_types: dict[str, float]
    generators: dict[str, float]

    def best_content_type(self) -> str:
        return max(self.content_types, key=lambda k: (self.content_types[k], k))

    def best_generator(self) -> str:
        return max(self.generators, key=lambda k: (self.generators[k], k))


@dataclass(frozen=True)
class DriftEvent:
    day: int
    content_types: dict[str, float] = field(default_factory=dict)
    generators: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    content_types: dict[str, float]
    generators: dict[str, float]
    description: str = ""
    seed: int = 7
    start: datetime = datetime(2026, 1, 1, tzinfo=timezone.utc)
    timezone: str = "UTC"
    followers: int = 1000
    posts_per_day: int = 4
    impressions_median: float = 900.0
    impressions_sigma: float = 0.8
    hour_multiplier: dict[int, float] = field(default_factory=dict)
    quality_effect: float = 0.025
    drift: tuple[DriftEvent, ...] = ()
    organic_followers_per_day: float = 2.0
    follower_noise: float = 0.0
    engagement_half_life_hours: float = 3.0
    impressions_half_life_hours: float = 8.0
    follows_half_life_hours: float = 4.0
    profile_click_rate: float = 0.01
    engagement_split: dict[str, float] = field(
        default_factory=lambda: {"likes": 0.75, "retweets": 0.15, "replies": 0.10})
    quote_rate: float = 0.0004
    bookmark_rate: float = 0.002
    url_click_rate: float = 0.001
    thread_impressions_multiplier: float = 1.0
    success_er_threshold: float = 0.03
    topic_effects: dict[str, dict[str, float]] = field(default_factory=dict)
    hook_effects: dict[str, dict[str, float]] = field(default_factory=dict)
    # Whether the platform reports each post's own follows, as X's post analytics do for the account's posts
    # (false: only the follower count, so follows must be attributed; measures the old path).
    reported_follows: bool = True

    # ----------------------------------------------------------------------------------------- loading
    @classmethod
    def from_yaml(cls, path: str | Path) -> Scenario:
        path = Path(path)
        with path.open("r", encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        if not isinstance(data, dict):
            raise ValueError(f"scenario file {path}: expected a YAML mapping at the top level")
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"scenario file {path}: {exc}") from None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scenario:
        if not isinstance(d, dict):
            raise ValueError("scenario: expected a mapping")
        for k in d:
            if k not in _KNOWN:
                raise _fail(str(k), f"unknown key (known keys: {', '.join(sorted(_KNOWN))})")
        for k in _REQUIRED:
            if k not in d:
                raise _fail(k, "missing required key")
        raw = {**copy.deepcopy(_DEFAULTS), **d}

        name = raw["name"]
        if not isinstance(name, str) or not name.strip():
            raise _fail("name", f"expected a non-empty string, got {name!r}")
        description = raw["description"] or ""
        if not isinstance(description, str):
            raise _fail("description", "expected a string")

        seed = _integer("seed", raw["seed"], lo=0)
        start = _parse_start(raw["start"])
        tz = raw["timezone"]
        if not isinstance(tz, str):
            raise _fail("timezone", f"expected an IANA zone name, got {tz!r}")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise _fail("timezone", f"unknown time zone {tz!r}") from None
        followers = _integer("followers", raw["followers"], lo=0)
        posts_per_day = _integer("posts_per_day", raw["posts_per_day"], lo=1)

        imp = _mapping("impressions", raw["impressions"])
        for k in imp:
            if k not in ("median", "sigma"):
                raise _fail(f"impressions.{k}", "unknown key (expected median, sigma)")
        median = _number("impressions.median", imp.get("median", 900), lo=0.0, lo_open=True)
        sigma = _number("impressions.sigma", imp.get("sigma", 0.8), lo=0.0)

        content_types = _rates("content_types", raw["content_types"])
        generators = _f_per_1k("generators", raw["generators"])

        hm: dict[int, float] = {}
        for k, v in _mapping("hour_multiplier", raw["hour_multiplier"]).items():
            key = f"hour_multiplier.{k}"
            if isinstance(k, bool):
                raise _fail(key, "hour must be an integer 0-23")
            hour = int(k) if isinstance(k, (int, str)) and str(k).strip().isdigit() else None
            if hour is None or not 0 <= hour <= 23:
                raise _fail(key, "hour must be an integer 0-23")
            if hour in hm:
                raise _fail(key, "hour given twice")
            hm[hour] = _number(key, v, lo=0.0, lo_open=True)

        quality_effect = _number("quality_effect", raw["quality_effect"])

        drift_raw = raw["drift"] or []
        if not isinstance(drift_raw, list):
            raise _fail("drift", "expected a list of {day, content_types?, generators?}")
        events: list[DriftEvent] = []
        for i, ev in enumerate(drift_raw):
            key = f"drift[{i}]"
            ev = _mapping(key, ev)
            for k in ev:
                if k not in _DRIFT_KEYS:
                    raise _fail(f"{key}.{k}", "unknown key (expected day, content_types, generators)")
            if "day" not in ev:
                raise _fail(f"{key}.day", "missing required key")
            day = _integer(f"{key}.day", ev["day"], lo=0)
            ct = _rates(f"{key}.content_types", ev.get("content_types"), nonempty=False)
            gens = _f_per_1k(f"{key}.generators", ev.get("generators"), nonempty=False)
            for n in ct:
                if n not in content_types:
                    raise _fail(f"{key}.content_types.{n}", "unknown content type (declare it in content_types)")
            for n in gens:
                if n not in generators:
                    raise _fail(f"{key}.generators.{n}", "unknown generator (declare it in generators)")
            events.append(DriftEvent(day=day, content_types=ct, generators=gens))
        days = [e.day for e in events]
        if len(set(days)) != len(days):
            raise _fail("drift", "two drift events on the same day")
        events.sort(key=lambda e: e.day)

        floats = {}
        for k in ("organic_followers_per_day", "follower_noise"):
            floats[k] = _number(k, raw[k], lo=0.0)
        for k in ("engagement_half_life_hours", "impressions_half_life_hours", "follows_half_life_hours",
                  "thread_impressions_multiplier"):
            floats[k] = _number(k, raw[k], lo=0.0, lo_open=True)
        for k in ("profile_click_rate", "quote_rate", "bookmark_rate", "url_click_rate", "success_er_threshold"):
            floats[k] = _number(k, raw[k], lo=0.0, hi=1.0)

        split_raw = _mapping("engagement_split", raw["engagement_split"], nonempty=True)
        split: dict[str, float] = {}
        for k, v in split_raw.items():
            if k not in ENGAGEMENT_FIELDS:
                raise _fail(f"engagement_split.{k}", f"unknown key (expected {', '.join(ENGAGEMENT_FIELDS)})")
            split[k] = _number(f"engagement_split.{k}", v, lo=0.0)
        total = sum(split.values())
        if total <= 0:
            raise _fail("engagement_split", "weights must not all be zero")
        split = {k: split.get(k, 0.0) / total for k in ENGAGEMENT_FIELDS}
        topic_effects = _effects("topic_effects", raw["topic_effects"])
        hook_effects = _effects("hook_effects", raw["hook_effects"])
        if not isinstance(raw["reported_follows"], bool):
            raise _fail("reported_follows", f"expected true or false, got {raw['reported_follows']!r}")

        return cls(
            name=name.strip(), description=description.strip(), content_types=content_types,
            generators=generators, seed=seed, start=start, timezone=tz, followers=followers,
            posts_per_day=posts_per_day, impressions_median=median, impressions_sigma=sigma,
            hour_multiplier=hm, quality_effect=quality_effect, drift=tuple(events),
            engagement_split=split, topic_effects=topic_effects, hook_effects=hook_effects,
            reported_follows=raw["reported_follows"], **floats,
        )

    def to_dict(self) -> dict[str, Any]:
        """The scenario as a mapping ``from_dict`` accepts (round-trips). Topic and hook effects appear only when
        given, and reported_follows only when false, so a scenario without them keeps its fingerprint."""
        effects = {k: {arm: dict(m) for arm, m in getattr(self, k).items()}
                   for k in ("topic_effects", "hook_effects") if getattr(self, k)}
        return {
            "name": self.name, "description": self.description, "seed": self.seed,
            "start": self.start.isoformat().replace("+00:00", "Z"), "timezone": self.timezone,
            "followers": self.followers, "posts_per_day": self.posts_per_day,
            "impressions": {"median": self.impressions_median, "sigma": self.impressions_sigma},
            "content_types": dict(self.content_types), "hour_multiplier": dict(self.hour_multiplier),
            "quality_effect": self.quality_effect, "generators": dict(self.generators),
            "drift": [{"day": e.day, "content_types": dict(e.content_types), "generators": dict(e.generators)}
                      for e in self.drift],
            "organic_followers_per_day": self.organic_followers_per_day, "follower_noise": self.follower_noise,
            "engagement_half_life_hours": self.engagement_half_life_hours,
            "impressions_half_life_hours": self.impressions_half_life_hours,
            "follows_half_life_hours": self.follows_half_life_hours,
            "profile_click_rate": self.profile_click_rate, "engagement_split": dict(self.engagement_split),
            "quote_rate": self.quote_rate, "bookmark_rate": self.bookmark_rate,
            "url_click_rate": self.url_click_rate,
            "thread_impressions_multiplier": self.thread_impressions_multiplier,
            "success_er_threshold": self.success_er_threshold,
            **effects,
            **({} if self.reported_follows else {"reported_follows": False}),
        }

    def fingerprint(self) -> str:
        """A short hash of every value of the scenario (two scenarios with the same fingerprint simulate alike)."""
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    # ----------------------------------------------------------------------------------------- time
    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def day_of(self, at: datetime) -> int:
        """Simulated day index of ``at`` (0 on the start day; negative before it). Naive means UTC."""
        return math.floor((_as_utc(at) - self.start) / timedelta(days=1))

    def local_hour(self, at: datetime) -> int:
        """Hour of ``at`` on the clock of the scenario's time zone."""
        return _as_utc(at).astimezone(self.tz).hour

    def hour_mult(self, hour: int) -> float:
        return self.hour_multiplier.get(int(hour), 1.0)

    # ----------------------------------------------------------------------------------------- topic and hook effects
    def topic_effect(self, topic: str | None, kind: str) -> float:
        """The true ``kind`` ('engagement' or 'follows') multiplier of a post on topic arm ``topic`` (1.0 if none)."""
        return self.topic_effects.get(topic, {}).get(kind, 1.0) if topic is not None else 1.0

    def hook_effect(self, hook: str | None, kind: str) -> float:
        """The true ``kind`` multiplier of a post with hook type ``hook`` (1.0 if none)."""
        return self.hook_effects.get(hook, {}).get(kind, 1.0) if hook is not None else 1.0

    def best_topic(self, kind: str = "engagement") -> str | None:
        """The listed topic with the highest ``kind`` multiplier (ties: the name), None without topic effects."""
        return _best(self.topic_effects, kind)

    def best_hook(self, kind: str = "engagement") -> str | None:
        return _best(self.hook_effects, kind)

    # ----------------------------------------------------------------------------------------- truth
    def truth_at(self, day: int) -> Truth:
        """Truths in force on simulated ``day``: the base values with every drift event of day <= ``day`` applied."""
        ct = dict(self.content_types)
        gens = dict(self.generators)
        for ev in self.drift:
            if ev.day <= day:
                ct.update(ev.content_types)
                gens.update(ev.generators)
        return Truth(day=int(day), content_types=ct, generators=gens)

    def stationary_segments(self, days: int) -> list[tuple[int, int]]:
        """[start, end) days of the stretches of a `days`-day run between drift events (each has one truth)."""
        cuts = sorted({0, *[e.day for e in self.drift if 0 < e.day < days], days})
        return list(zip(cuts[:-1], cuts[1:], strict=True))


def _best(effects: dict[str, dict[str, float]], kind: str) -> str | None:
    if kind not in EFFECT_KEYS:
        raise ValueError(f"kind must be one of {EFFECT_KEYS}, got {kind!r}")
    return max(effects, key=lambda a: (effects[a][kind], a)) if effects else None


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a scenario from a path, or by name from the project's ``scenarios/`` folder (``"default"``)."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return Scenario.from_yaml(p)
    candidate = SCENARIOS_DIR / f"{name_or_path}.yaml"
    if candidate.exists():
        return Scenario.from_yaml(candidate)
    known = sorted(q.stem for q in SCENARIOS_DIR.glob("*.yaml"))
    raise FileNotFoundError(f"no scenario file {name_or_path!r} (built-in scenarios: {', '.join(known)})")
