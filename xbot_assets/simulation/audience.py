"""A synthetic X audience with a known ground truth (PRODUCT §7).

How a post is simulated
-----------------------
``publish`` draws the post's FINAL totals once, from random streams keyed by ``(seed, post_index, purpose)``:

* impressions = round(median · exp(sigma · Z) · hour multiplier · thread multiplier), Z ~ N(0, 1)  (at least 1);
* true ER = clip((content ER · hour multiplier + quality_effect · (quality − 0.7) / 0.1) · topic engagement
  multiplier · hook engagement multiplier, 0, 1) (the multipliers of the post's topic arm and hook type, 1.0 unless
  the scenario gives ``topic_effects`` / ``hook_effects``);
* engagements ~ Binomial(impressions, true ER), split into likes / retweets / replies (``engagement_split``);
* follows ~ Poisson(generator F/1K · topic and hook follow multipliers · impressions / 1000); profile clicks = follows + Poisson(``profile_click_rate``
  · impressions): every follower visited the profile, and so did visitors who did not follow, so a post that wins
  followers also shows more profile visits (which is why follower attribution prefers profile clicks);
* quotes, bookmarks, url clicks ~ Poisson(rate · impressions) (not part of ER).

All counts except impressions are drawn by INVERSE-CDF sampling from one uniform per count, so two runs that put
different decisions in the same post slot share common random numbers: the impressions draw is identical (up to the
hour multiplier), and a higher true ER / F/1K gives at least as many engagements / follows.

Accrual: the counter observed at age ``a`` hours is ``floor(total · (1 − 0.5 ** (a / half_life)))``, which reaches
``total`` once less than one unit remains. Impressions use ``impressions_half_life_hours``; likes, retweets, replies,
quotes, bookmarks and url clicks use ``engagement_half_life_hours`` (faster); follows and profile clicks use
``follows_half_life_hours``. The reported impressions are never below the reported likes + retweets + replies +
quotes + bookmarks (an engagement implies an impression).

Followers at ``t`` = starting followers + organic growth (Poisson(organic_followers_per_day / 24) per elapsed hour,
keyed by day) + follows accrued from all published posts by ``t`` + round(N(0, follower_noise)) keyed by the second.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from statistics import NormalDist

import numpy as np

from .scenario import Scenario, _as_utc

METRIC_FIELDS = ("impressions", "likes", "retweets", "replies", "quotes", "bookmarks", "profile_clicks", "url_clicks")

# Domain tags keep the different families of random streams apart.
_TAG_POST, _TAG_ORGANIC, _TAG_NOISE = 1, 2, 3
# Purposes within a post slot.
_P_IMPRESSIONS, _P_ENGAGEMENTS, _P_SPLIT, _P_FOLLOWS, _P_PROFILE, _P_EXTRAS = range(6)


# --------------------------------------------------------------------------------------------- distributions
def _window_cdf(logpmf0: float, lo: int, log_ratios: np.ndarray) -> np.ndarray:
    """CDF over k = lo .. lo + len(log_ratios) given log pmf(lo) and log pmf(k+1)/pmf(k)."""
    logpmf = logpmf0 + np.concatenate(([0.0], np.cumsum(log_ratios)))
    return np.cumsum(np.exp(logpmf))


def _binom_window(n: int, p: float) -> tuple[int, np.ndarray]:
    """(lo, CDF on lo..hi) of Binomial(n, p) for 0 < p < 1, n >= 1, on a window holding all but ~1e-30 of the mass."""
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    lo = max(0, math.floor(mean - 12 * sd - 10))
    hi = min(n, math.ceil(mean + 12 * sd + 10))
    logp, logq = math.log(p), math.log1p(-p)
    logpmf0 = math.lgamma(n + 1) - math.lgamma(lo + 1) - math.lgamma(n - lo + 1) + lo * logp + (n - lo) * logq
    k = np.arange(lo, hi, dtype=float)
    ratios = np.log(n - k) - np.log(k + 1) + (logp - logq)
    return lo, _window_cdf(logpmf0, lo, ratios)


def binom_ppf(u: float, n: int, p: float) -> int:
    """Smallest k with P(Binomial(n, p) <= k) >= u (inverse-CDF sampling: monotone in u and in p)."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return int(n)
    lo, cdf = _binom_window(int(n), float(p))
    return int(min(lo + int(np.searchsorted(cdf, u, side="left")), n))


def binom_sf(m: int, n: int, p: float) -> float:
    """P(Binomial(n, p) > m)."""
    if m < 0:
        return 1.0
    if m >= n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lo, cdf = _binom_window(int(n), float(p))
    if m < lo:
        return 1.0
    idx = m - lo
    if idx >= len(cdf):
        return 0.0
    return float(max(0.0, 1.0 - cdf[idx]))


def poisson_ppf(u: float, lam: float) -> int:
    """Smallest k with P(Poisson(lam) <= k) >= u (monotone in u and in lam)."""
    if lam <= 0.0:
        return 0
    sd = math.sqrt(lam)
    lo = max(0, math.floor(lam - 12 * sd - 10))
    hi = math.ceil(lam + 12 * sd + 20)
    logpmf0 = -lam + lo * math.log(lam) - math.lgamma(lo + 1)
    k = np.arange(lo, hi, dtype=float)
    cdf = _window_cdf(logpmf0, lo, math.log(lam) - np.log(k + 1))
    return lo + int(min(np.searchsorted(cdf, u, side="left"), len(cdf) - 1))


def bernoulli_kl(p: float, q: float, eps: float = 1e-12) -> float:
    """kl(p, q) = p ln(p/q) + (1 − p) ln((1 − p)/(1 − q)), natural log, arguments clipped to [eps, 1 − eps]."""
    p = min(max(p, eps), 1 - eps)
    q = min(max(q, eps), 1 - eps)
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def lai_robbins_constant_from_probs(probs: dict[str, float] | list[float]) -> float:
    """Σ over suboptimal Bernoulli arms of (μ* − μ_a) / kl(μ_a, μ*) (anchors §B.1); 0 if every arm ties."""
    mus = list(probs.values()) if isinstance(probs, dict) else list(probs)
    best = max(mus)
    return float(sum((best - m) / bernoulli_kl(m, best) for m in mus if m < best))


def accrued(total: int, age_hours: float, half_life_hours: float) -> int:
    """Counter observed ``age_hours`` after posting: floor(total · (1 − 0.5^(age/h))), or ``total`` once less than
    one unit remains to accrue. 0 before posting. Monotone non-decreasing in age."""
    if age_hours <= 0 or total <= 0:
        return 0
    remaining = 0.5 ** (age_hours / half_life_hours)
    if total * remaining < 1.0:
        return int(total)
    return int(math.floor(total * (1.0 - remaining)))


# --------------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class SimulatedPost:
    """Everything the simulator decided about one post: the inputs, the truth used and the final totals."""

    decision_id: str
    tweet_id: str
    post_index: int
    posted_at: datetime
    content_type: str
    generator_name: str
    quality_score: float
    is_thread: bool
    day: int
    local_hour: int
    hour_multiplier: float
    expected_impressions: float      # median of the impression draw for this hour (lognormal median · multipliers)
    true_er: float
    true_f_per_1k: float
    expected_follows: float          # true F/1K · impressions / 1000 (given the drawn impressions)
    impressions: int
    likes: int
    retweets: int
    replies: int
    quotes: int
    bookmarks: int
    url_clicks: int
    profile_clicks: int
    follows: int
    topic_arm: str | None = None     # the topic arm and hook type the post was planned on (None: not given)
    hook: str | None = None

    @property
    def engagements(self) -> int:
        return self.likes + self.retweets + self.replies

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------- simulator
class AudienceSimulator:
    """Publish posts into a synthetic audience and read back their metrics and the follower count over time."""

    def __init__(self, scenario: Scenario, seed: int | None = None):
        self.scenario = scenario
        self.seed = int(scenario.seed if seed is None else seed)
        if self.seed < 0:
            raise ValueError("seed must be >= 0")
        self._posts: dict[str, SimulatedPost] = {}
        self._by_index: dict[int, str] = {}
        self._by_tweet: dict[str, str] = {}
        self._organic_days: dict[int, np.ndarray] = {}
        self._organic_prefix: list[int] = [0]  # _organic_prefix[d] = organic followers gained in days 0..d-1
        self._success_cache: dict[tuple, dict[str, float]] = {}

    # ----------------------------------------------------------------------------------------- streams
    def _rng(self, post_index: int, purpose: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _TAG_POST, post_index, purpose])

    def tweet_id_for(self, post_index: int) -> str:
        """Deterministic 19-digit tweet id of a post slot (depends on the seed and the index only)."""
        h = hashlib.blake2b(f"xbot-sim:{self.seed}:{post_index}".encode(), digest_size=8).digest()
        return str(10**18 + int.from_bytes(h, "big") % (9 * 10**18))

    # ----------------------------------------------------------------------------------------- publishing
    def publish(self, decision_id: str, post_index: int, posted_at: datetime, content_type: str,
                generator_name: str, quality_score: float, is_thread: bool = False, *,
                topic_arm: str | None = None, hook: str | None = None) -> str:
        """Publish a post in slot ``post_index`` and return its tweet id. Draws the post's final totals. The
        scenario's topic and hook effects apply through ``topic_arm`` and ``hook`` (None: no effect)."""
        sc = self.scenario
        decision_id = str(decision_id)
        if decision_id in self._posts:
            raise ValueError(f"decision_id {decision_id!r} was already published")
        if isinstance(post_index, bool) or not isinstance(post_index, (int, np.integer)) or post_index < 0:
            raise ValueError(f"post_index must be an integer >= 0, got {post_index!r}")
        post_index = int(post_index)
        if post_index in self._by_index:
            raise ValueError(f"post_index {post_index} was already used by decision {self._by_index[post_index]!r}")
        q = float(quality_score)
        if not (0.0 <= q <= 1.0) or math.isnan(q):
            raise ValueError(f"quality_score must be in [0, 1], got {quality_score!r}")
        posted_at = _as_utc(posted_at)
        day = sc.day_of(posted_at)
        truth = sc.truth_at(day)
        if content_type not in truth.content_types:
            raise ValueError(f"unknown content_type {content_type!r} (scenario has {sorted(truth.content_types)})")
        if generator_name not in truth.generators:
            raise ValueError(f"unknown generator {generator_name!r} (scenario has {sorted(truth.generators)})")

        hour = sc.local_hour(posted_at)
        hm = sc.hour_mult(hour)
        thread_m = sc.thread_impressions_multiplier if is_thread else 1.0
        expected_imps = sc.impressions_median * hm * thread_m

        z = float(self._rng(post_index, _P_IMPRESSIONS).standard_normal())
        impressions = max(1, int(round(expected_imps * math.exp(sc.impressions_sigma * z))))

        topic_arm = None if topic_arm is None else str(topic_arm)
        hook = None if hook is None else str(hook)
        er = self.expected_er(content_type, hour, q, day, topic=topic_arm, hook=hook)
        u_e = float(self._rng(post_index, _P_ENGAGEMENTS).random())
        engagements = binom_ppf(u_e, impressions, er)

        s = sc.engagement_split
        u_l, u_r = self._rng(post_index, _P_SPLIT).random(2)
        likes = binom_ppf(float(u_l), engagements, s["likes"])
        rest = engagements - likes
        denom = s["retweets"] + s["replies"]
        retweets = binom_ppf(float(u_r), rest, s["retweets"] / denom) if denom > 0 else 0
        replies = rest - retweets

        f1k = truth.generators[generator_name] * sc.topic_effect(topic_arm, "follows") * sc.hook_effect(hook, "follows")
        lam_f = f1k * impressions / 1000.0
        follows = min(impressions, poisson_ppf(float(self._rng(post_index, _P_FOLLOWS).random()), lam_f))
        lam_extra_clicks = sc.profile_click_rate * impressions
        extra_clicks = poisson_ppf(float(self._rng(post_index, _P_PROFILE).random()), lam_extra_clicks)
        profile_clicks = min(impressions, follows + extra_clicks)

        u_q, u_b, u_c = self._rng(post_index, _P_EXTRAS).random(3)
        room = impressions - engagements
        quotes = min(room, poisson_ppf(float(u_q), sc.quote_rate * impressions))
        bookmarks = min(room - quotes, poisson_ppf(float(u_b), sc.bookmark_rate * impressions))
        url_clicks = min(impressions, poisson_ppf(float(u_c), sc.url_click_rate * impressions))

        tweet_id = self.tweet_id_for(post_index)
        if tweet_id in self._by_tweet:  # astronomically unlikely; never silently merge two posts
            raise RuntimeError(f"tweet id collision for post_index {post_index}")
        post = SimulatedPost(
            decision_id=decision_id, tweet_id=tweet_id, post_index=post_index, posted_at=posted_at,
            content_type=content_type, generator_name=generator_name, quality_score=q, is_thread=bool(is_thread),
            day=day, local_hour=hour, hour_multiplier=hm, expected_impressions=expected_imps, true_er=er,
            true_f_per_1k=f1k, expected_follows=lam_f, impressions=impressions, likes=likes, retweets=retweets,
            replies=replies, quotes=quotes, bookmarks=bookmarks, url_clicks=url_clicks,
            profile_clicks=profile_clicks, follows=follows, topic_arm=topic_arm, hook=hook,
        )
        self._posts[decision_id] = post
        self._by_index[post_index] = decision_id
        self._by_tweet[tweet_id] = decision_id
        return tweet_id

    # ----------------------------------------------------------------------------------------- reading
    @property
    def posts(self) -> list[SimulatedPost]:
        """Published posts, in publishing order."""
        return list(self._posts.values())

    def post(self, decision_id: str) -> SimulatedPost:
        """The final totals and the truth of a published post (KeyError if unknown)."""
        try:
            return self._posts[str(decision_id)]
        except KeyError:
            raise KeyError(f"unknown decision_id {decision_id!r}") from None

    def decision_for_tweet(self, tweet_id: str) -> str:
        try:
            return self._by_tweet[str(tweet_id)]
        except KeyError:
            raise KeyError(f"unknown tweet_id {tweet_id!r}") from None

    def metrics_at(self, decision_id: str, at: datetime) -> dict[str, int]:
        """Cumulative public counters of a post as they would be read at ``at`` (all 0 before posting)."""
        p = self.post(decision_id)
        sc = self.scenario
        age = (_as_utc(at) - p.posted_at) / timedelta(hours=1)
        he, hi, hf = sc.engagement_half_life_hours, sc.impressions_half_life_hours, sc.follows_half_life_hours
        m = {
            "likes": accrued(p.likes, age, he),
            "retweets": accrued(p.retweets, age, he),
            "replies": accrued(p.replies, age, he),
            "quotes": accrued(p.quotes, age, he),
            "bookmarks": accrued(p.bookmarks, age, he),
            "profile_clicks": accrued(p.profile_clicks, age, hf),
            "url_clicks": accrued(p.url_clicks, age, he),
        }
        engaged = m["likes"] + m["retweets"] + m["replies"] + m["quotes"] + m["bookmarks"]
        m["impressions"] = max(accrued(p.impressions, age, hi), engaged)
        return {k: m[k] for k in METRIC_FIELDS}

    def metrics_for_tweet(self, tweet_id: str, at: datetime) -> dict[str, int]:
        return self.metrics_at(self.decision_for_tweet(tweet_id), at)

    def follows_reported(self, tweet_id: str, at: datetime) -> int:
        """The post's own follows accrued by ``at``, as the platform's per-post analytics report them."""
        p = self.post(self.decision_for_tweet(tweet_id))
        return accrued(p.follows, (_as_utc(at) - p.posted_at) / timedelta(hours=1), self.scenario.follows_half_life_hours)

    def follows_accrued(self, at: datetime) -> int:
        """Follows caused by all published posts, accrued by ``at`` (same half-life as profile clicks)."""
        at = _as_utc(at)
        hf = self.scenario.follows_half_life_hours
        return sum(accrued(p.follows, (at - p.posted_at) / timedelta(hours=1), hf) for p in self._posts.values())

    def _organic_day(self, day: int) -> np.ndarray:
        arr = self._organic_days.get(day)
        if arr is None:
            lam = self.scenario.organic_followers_per_day / 24.0
            arr = np.random.default_rng([self.seed, _TAG_ORGANIC, day]).poisson(lam, size=24).astype(np.int64)
            self._organic_days[day] = arr
        return arr

    def organic_followers(self, at: datetime) -> int:
        """Followers gained without posts by ``at``: one Poisson increment per completed hour since the start."""
        hours = math.floor((_as_utc(at) - self.scenario.start) / timedelta(hours=1))
        if hours <= 0:
            return 0
        full_days, rem = divmod(hours, 24)
        while len(self._organic_prefix) <= full_days:
            d = len(self._organic_prefix) - 1
            self._organic_prefix.append(self._organic_prefix[-1] + int(self._organic_day(d).sum()))
        total = self._organic_prefix[full_days]
        if rem:
            total += int(self._organic_day(full_days)[:rem].sum())
        return int(total)

    def follower_noise_at(self, at: datetime) -> int:
        """Measurement noise of the follower count read at ``at`` (keyed by the whole second)."""
        std = self.scenario.follower_noise
        if std <= 0:
            return 0
        sec = math.floor(_as_utc(at).timestamp()) + 2**40
        return int(round(float(np.random.default_rng([self.seed, _TAG_NOISE, sec]).normal(0.0, std))))

    def followers_at(self, at: datetime) -> int:
        """Follower count read at ``at``: start + organic + follows accrued + measurement noise (never negative)."""
        true = self.scenario.followers + self.organic_followers(at) + self.follows_accrued(at)
        return max(0, true + self.follower_noise_at(at))

    # ----------------------------------------------------------------------------------------- truth
    def _truth(self, day: int):
        return self.scenario.truth_at(day)

    def expected_er(self, content_type: str, hour: int, quality: float, day: int = 0, *, topic: str | None = None,
                    hook: str | None = None) -> float:
        """True ER = clip((content ER · hour multiplier + quality_effect · (quality − 0.7)/0.1) · topic and hook
        engagement multipliers, 0, 1)."""
        sc = self.scenario
        base = self._truth(day).content_types[content_type]
        er = base * sc.hour_mult(hour) + sc.quality_effect * (float(quality) - 0.7) / 0.1
        er = er * sc.topic_effect(topic, "engagement") * sc.hook_effect(hook, "engagement")
        return min(1.0, max(0.0, er))

    def expected_f_per_1k(self, generator: str, day: int = 0) -> float:
        return self._truth(day).generators[generator]

    def best_generator(self, day: int = 0) -> str:
        return self._truth(day).best_generator()

    def best_content_type(self, day: int = 0) -> str:
        """Highest base ER (the hour multiplier and the quality term do not change the order, except under clipping)."""
        return self._truth(day).best_content_type()

    def oracle_f_per_1k(self, day: int = 0) -> float:
        """F/1K of always using the best generator (hours scale impressions and follows alike, so they cancel)."""
        return max(self._truth(day).generators.values())

    def static_f_per_1k(self, weights: dict[str, float], day: int = 0) -> float:
        """Expected F/1K of drawing generators by fixed ``weights`` (normalised over the scenario's generators)."""
        gens = self._truth(day).generators
        w = {g: float(weights.get(g, 0.0)) for g in gens}
        total = sum(w.values())
        if total <= 0:
            raise ValueError("weights must give positive mass to at least one scenario generator")
        return sum(w[g] * gens[g] for g in gens) / total

    def content_success_probs(self, day: int = 0, hour: int | None = None, quality: float = 0.7,
                              threshold: float | None = None, n_grid: int = 64) -> dict[str, float]:
        """P(observed ER > threshold) for each content type: the Bernoulli arms of the content bandit.

        Computed exactly for the binomial and by quadrature over the lognormal impressions: ``n_grid`` equal-mass
        quantile midpoints of the impression distribution; for each, P(Binomial(I, ER) > threshold · I) from the
        exact binomial CDF. ``hour=None`` averages uniformly over the 24 local hours (each hour scales both the
        impressions and the ER); ``quality`` defaults to 0.7 (no quality effect); the threshold defaults to the
        scenario's ``success_er_threshold`` (0.03). Observed ER is (likes + retweets + replies) / impressions.
        """
        sc = self.scenario
        thr = sc.success_er_threshold if threshold is None else float(threshold)
        key = (tuple(sorted(self._truth(day).content_types.items())), hour, float(quality), thr, int(n_grid))
        if key in self._success_cache:
            return dict(self._success_cache[key])
        hours = list(range(24)) if hour is None else [int(hour)]
        nd = NormalDist()
        zs = [nd.inv_cdf((j + 0.5) / n_grid) for j in range(n_grid)]
        truth = self._truth(day)
        probs: dict[str, float] = {}
        for ct in truth.content_types:
            acc = 0.0
            for h in hours:
                hm = sc.hour_mult(h)
                er = self.expected_er(ct, h, quality, day)
                for z in zs:
                    n = max(1, int(round(sc.impressions_median * hm * math.exp(sc.impressions_sigma * z))))
                    m = math.floor(thr * n)  # largest k with k / n <= thr, guarded against float rounding
                    while (m + 1) / n <= thr:
                        m += 1
                    while m >= 0 and m / n > thr:
                        m -= 1
                    acc += binom_sf(m, n, er)
            probs[ct] = acc / (len(hours) * n_grid)
        self._success_cache[key] = dict(probs)
        return probs

    def success_probability(self, er: float, hour: int, threshold: float | None = None, n_grid: int = 32) -> float:
        """P(observed ER > threshold) of a post with true ER ``er`` at local ``hour``: as ``content_success_probs``
        (exact binomial, ``n_grid`` quantile midpoints of the lognormal impressions), for any true ER (a topic's,
        a hook's). Cached."""
        sc = self.scenario
        thr = sc.success_er_threshold if threshold is None else float(threshold)
        key = ("er", round(float(er), 12), int(hour), thr, int(n_grid))
        if key in self._success_cache:
            return self._success_cache[key]["p"]
        hm = sc.hour_mult(int(hour))
        nd = NormalDist()
        acc = 0.0
        for j in range(n_grid):
            n = max(1, int(round(sc.impressions_median * hm * math.exp(sc.impressions_sigma
                                                                     * nd.inv_cdf((j + 0.5) / n_grid)))))
            m = math.floor(thr * n)
            while (m + 1) / n <= thr:
                m += 1
            while m >= 0 and m / n > thr:
                m -= 1
            acc += binom_sf(m, n, float(er))
        p = acc / n_grid
        self._success_cache[key] = {"p": p}
        return p

    def lai_robbins_constant(self, day: int = 0, hour: int | None = None, quality: float = 0.7) -> float:
        """Σ over suboptimal content arms of (μ* − μ_a) / kl(μ_a, μ*), with μ from ``content_success_probs``."""
        return lai_robbins_constant_from_probs(self.content_success_probs(day=day, hour=hour, quality=quality))

    def lai_robbins_bound(self, n_rounds: int, day: int = 0, hour: int | None = None, quality: float = 0.7) -> float:
        """Asymptotic Lai–Robbins floor on the content bandit's regret after ``n_rounds`` posts, in expected lost
        successes (posts with ER > 0.03): ln(n) · Σ_{a suboptimal} (μ* − μ_a) / kl(μ_a, μ*) (anchors §B.1).
        0 for n <= 1. Uses the truths of ``day``; with drift, evaluate each stationary segment separately."""
        if n_rounds <= 1:
            return 0.0
        return math.log(n_rounds) * self.lai_robbins_constant(day=day, hour=hour, quality=quality)
