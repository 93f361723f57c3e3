"""AudienceSimulator: determinism, common random numbers, accrual, statistics, drift, followers, Lai–Robbins."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xbot_assets.simulation import (
    METRIC_FIELDS,
    AudienceSimulator,
    Scenario,
    accrued,
    bernoulli_kl,
    binom_ppf,
    load_scenario,
    poisson_ppf,
)
from xbot_assets.simulation.audience import lai_robbins_constant_from_probs

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
GENS = ["humanVoice", "dataNerd", "philosopher", "mythBuster"]
TYPES = ["educational_thread", "factual_single", "myth_busting", "wellness_tip"]


def _run(sim: AudienceSimulator, n: int = 40, policy: int = 0) -> list[str]:
    """Publish n posts every 6 hours; ``policy`` rotates the choices so two policies differ per slot."""
    ids = []
    for i in range(n):
        sim.publish(f"p{policy}-{i}", i, START + timedelta(hours=6 * i), TYPES[(i + policy) % 4],
                    GENS[(i + 2 * policy) % 4], 0.6 + 0.1 * ((i + policy) % 3))
        ids.append(f"p{policy}-{i}")
    return ids


# ------------------------------------------------------------------------------------------ determinism
def test_same_seed_same_everything_different_seed_differs():
    sc = load_scenario("default")
    a, b, c = AudienceSimulator(sc), AudienceSimulator(sc, seed=sc.seed), AudienceSimulator(sc, seed=99)
    ids = _run(a)
    _run(b)
    _run(c)
    probe = [START + timedelta(hours=h) for h in (1, 7, 30, 100, 250)]
    for d in ids:
        assert a.post(d) == b.post(d)
        for t in probe:
            assert a.metrics_at(d, t) == b.metrics_at(d, t)
    assert [a.followers_at(t) for t in probe] == [b.followers_at(t) for t in probe]
    assert [a.post(d).tweet_id for d in ids] == [b.post(d).tweet_id for d in ids]
    assert [a.post(d).impressions for d in ids] != [c.post(d).impressions for d in ids]
    assert [a.post(d).tweet_id for d in ids] != [c.post(d).tweet_id for d in ids]


def test_tweet_ids_are_19_digits_and_unique():
    sim = AudienceSimulator(load_scenario("default"))
    ids = {sim.tweet_id_for(i) for i in range(2000)}
    assert len(ids) == 2000
    assert all(len(t) == 19 and t.isdigit() for t in ids)
    tid = sim.publish("x", 5, START, "factual_single", "coach", 0.7)
    assert tid == sim.tweet_id_for(5) and sim.decision_for_tweet(tid) == "x"
    assert sim.metrics_for_tweet(tid, START + timedelta(days=1)) == sim.metrics_at("x", START + timedelta(days=1))


def test_followers_independent_of_call_and_publish_order():
    sc = Scenario.from_dict({**load_scenario("default").to_dict(), "follower_noise": 3.0})
    a, b = AudienceSimulator(sc), AudienceSimulator(sc)
    posts = [(f"d{i}", i, START + timedelta(hours=5 * i), TYPES[i % 4], GENS[i % 4], 0.7) for i in range(30)]
    for p in posts:
        a.publish(*p)
    for p in reversed(posts):
        b.publish(*p)
    times = [START + timedelta(hours=h, minutes=17) for h in range(0, 300, 13)]
    fa = [a.followers_at(t) for t in times]
    fb = [b.followers_at(t) for t in reversed(times)][::-1]
    assert fa == fb
    assert fa == [a.followers_at(t) for t in times]  # repeat reads are identical


# ------------------------------------------------------------------------------------------ common random numbers
def test_common_random_numbers_across_policies():
    sc = load_scenario("default")
    a, b = AudienceSimulator(sc), AudienceSimulator(sc)
    ids_a, ids_b = _run(a, 60, policy=0), _run(b, 60, policy=1)
    for da, db in zip(ids_a, ids_b):
        pa, pb = a.post(da), b.post(db)
        assert pa.post_index == pb.post_index and pa.tweet_id == pb.tweet_id
        assert pa.impressions == pb.impressions  # same slot, same hour -> same impressions whatever was chosen
        assert pa.generator_name != pb.generator_name and pa.content_type != pb.content_type


def test_common_random_numbers_are_monotone_in_the_truth():
    """Same slot: a better generator never yields fewer follows; a higher ER never fewer engagements."""
    sc = load_scenario("default")
    lo, hi = AudienceSimulator(sc), AudienceSimulator(sc)
    for i in range(150):
        t = START + timedelta(hours=3 * i)
        lo.publish(f"d{i}", i, t, "factual_single", "philosopher", 0.7)
        hi.publish(f"d{i}", i, t, "educational_thread", "dataNerd", 0.7)
        pl, ph = lo.post(f"d{i}"), hi.post(f"d{i}")
        assert pl.impressions == ph.impressions
        assert ph.follows >= pl.follows
        assert ph.engagements >= pl.engagements
    total_lo = sum(p.follows for p in lo.posts)
    total_hi = sum(p.follows for p in hi.posts)
    assert total_hi > 3 * total_lo  # 3.4 vs 0.7 F/1K on identical impressions


def test_hour_multiplier_uses_the_scenario_timezone():
    sc = Scenario.from_dict({"name": "ny", "timezone": "America/New_York", "hour_multiplier": {9: 2.0},
                             "content_types": {"a": 0.04}, "generators": {"g": 1.0}})
    sim = AudienceSimulator(sc)
    sim.publish("at9local", 0, datetime(2026, 1, 5, 14, tzinfo=timezone.utc), "a", "g", 0.7)  # 09:00 EST
    sim.publish("at9utc", 1, datetime(2026, 1, 5, 9, tzinfo=timezone.utc), "a", "g", 0.7)  # 04:00 EST
    assert sim.post("at9local").local_hour == 9 and sim.post("at9local").hour_multiplier == 2.0
    assert sim.post("at9utc").hour_multiplier == 1.0
    assert sim.post("at9local").true_er == pytest.approx(0.08)


# ------------------------------------------------------------------------------------------ accrual
def test_accrual_shapes():
    sc = load_scenario("default")
    sim = AudienceSimulator(sc)
    for i in range(25):
        sim.publish(f"d{i}", i, START + timedelta(hours=i), "educational_thread", "dataNerd", 0.9)
    grid = [START + timedelta(minutes=m) for m in range(-60, 60 * 24 * 12, 37)]
    for p in sim.posts:
        prev = dict.fromkeys(METRIC_FIELDS, 0)
        for t in grid:
            m = sim.metrics_at(p.decision_id, t)
            assert set(m) == set(METRIC_FIELDS)
            for k in METRIC_FIELDS:
                assert m[k] >= prev[k], (k, t)
            assert m["likes"] + m["retweets"] + m["replies"] + m["quotes"] + m["bookmarks"] <= m["impressions"]
            if t <= p.posted_at:
                assert all(v == 0 for v in m.values())
            prev = m
        at1 = sim.metrics_at(p.decision_id, p.posted_at + timedelta(hours=1))
        at24 = sim.metrics_at(p.decision_id, p.posted_at + timedelta(hours=24))
        assert at1["impressions"] < at24["impressions"]
        final = sim.metrics_at(p.decision_id, p.posted_at + timedelta(days=60))
        assert final["impressions"] == p.impressions and final["likes"] == p.likes
        assert final["profile_clicks"] == p.profile_clicks >= p.follows


def test_engagement_accrues_faster_than_impressions():
    sc = load_scenario("default")
    sim = AudienceSimulator(sc)
    for i in range(40):
        sim.publish(f"d{i}", i, START, "educational_thread", "dataNerd", 0.7)
    for h in (1, 3, 6, 12):
        t = START + timedelta(hours=h)
        eng = sum(sim.metrics_at(p.decision_id, t)["likes"] + sim.metrics_at(p.decision_id, t)["retweets"]
                  + sim.metrics_at(p.decision_id, t)["replies"] for p in sim.posts)
        imp = sum(sim.metrics_at(p.decision_id, t)["impressions"] for p in sim.posts)
        eng_frac = eng / sum(p.engagements for p in sim.posts)
        imp_frac = imp / sum(p.impressions for p in sim.posts)
        assert eng_frac > imp_frac
        assert eng_frac == pytest.approx(1 - 0.5 ** (h / 3), abs=0.03)
        assert imp_frac == pytest.approx(1 - 0.5 ** (h / 8), abs=0.03)


@settings(max_examples=200, deadline=None)
@given(total=st.integers(0, 10**6), a=st.floats(-5, 500), b=st.floats(-5, 500), h=st.floats(0.1, 50))
def test_accrued_is_monotone_and_bounded(total, a, b, h):
    lo, hi = sorted((a, b))
    assert 0 <= accrued(total, lo, h) <= accrued(total, hi, h) <= total


# ------------------------------------------------------------------------------------------ sampling primitives
@settings(max_examples=100, deadline=None)
@given(u=st.floats(0.0, 1.0), n=st.integers(0, 5000), p=st.floats(0.0, 1.0), q=st.floats(0.0, 1.0))
def test_binom_ppf_monotone_in_p_and_bounded(u, n, p, q):
    lo, hi = sorted((p, q))
    assert 0 <= binom_ppf(u, n, lo) <= binom_ppf(u, n, hi) <= n


def test_inverse_cdf_samplers_have_the_right_moments():
    rng = np.random.default_rng(0)
    u = rng.random(3000)
    b = np.array([binom_ppf(x, 900, 0.04) for x in u])
    assert b.mean() == pytest.approx(36, rel=0.03) and b.var() == pytest.approx(900 * 0.04 * 0.96, rel=0.12)
    p = np.array([poisson_ppf(x, 3.4) for x in u])
    assert p.mean() == pytest.approx(3.4, rel=0.05) and p.var() == pytest.approx(3.4, rel=0.12)


# ------------------------------------------------------------------------------------------ statistics with a fixed seed
def test_mean_er_and_f_per_1k_near_the_truth():
    sc = load_scenario("default")
    sim = AudienceSimulator(sc, seed=2024)
    n = 1500
    for i in range(n):  # 12:00 UTC: multiplier 1.0; quality 0.7: no quality effect
        sim.publish(f"d{i}", i, START + timedelta(days=i % 60, hours=12), "factual_single", "dataNerd", 0.7)
    posts = sim.posts
    imps = sum(p.impressions for p in posts)
    pooled_er = sum(p.engagements for p in posts) / imps
    mean_er = np.mean([p.engagements / p.impressions for p in posts])
    f1k = 1000 * sum(p.follows for p in posts) / imps
    assert pooled_er == pytest.approx(0.028, rel=0.03)
    assert mean_er == pytest.approx(0.028, rel=0.05)
    assert f1k == pytest.approx(3.4, rel=0.05)
    assert np.median([p.impressions for p in posts]) == pytest.approx(900, rel=0.08)
    visits_without_follow = sum(p.profile_clicks - p.follows for p in posts) / imps
    assert visits_without_follow == pytest.approx(sc.profile_click_rate, rel=0.05)
    split = {k: sum(getattr(p, k) for p in posts) / sum(p.engagements for p in posts)
             for k in ("likes", "retweets", "replies")}
    assert split == pytest.approx({"likes": 0.75, "retweets": 0.15, "replies": 0.10}, abs=0.02)


def test_quality_and_hour_effects():
    sim = AudienceSimulator(load_scenario("default"))
    assert sim.expected_er("factual_single", 14, 0.7) == pytest.approx(0.028 * 1.4)
    assert sim.expected_er("factual_single", 12, 0.9) == pytest.approx(0.028 + 0.05)
    assert sim.expected_er("factual_single", 12, 0.0) == 0.0  # clipped at 0
    sim.publish("noon", 0, START + timedelta(hours=12), "myth_busting", "coach", 0.8)
    sim.publish("two", 1, START + timedelta(hours=14), "myth_busting", "coach", 0.8)
    assert sim.post("noon").true_er == pytest.approx(0.036 + 0.025)
    assert sim.post("two").true_er == pytest.approx(0.036 * 1.4 + 0.025)
    assert sim.post("two").expected_impressions == pytest.approx(900 * 1.4)


# ------------------------------------------------------------------------------------------ drift and truth helpers
def test_drift_switches_truths_for_posts_and_helpers():
    sc = load_scenario("drift")
    sim = AudienceSimulator(sc)
    assert (sim.best_generator(29), sim.best_generator(30)) == ("dataNerd", "storyteller")
    assert (sim.best_content_type(29), sim.best_content_type(30)) == ("educational_thread", "wellness_tip")
    assert (sim.oracle_f_per_1k(0), sim.oracle_f_per_1k(45)) == (3.4, 4.2)
    assert sim.expected_f_per_1k("dataNerd", 29) == 3.4 and sim.expected_f_per_1k("dataNerd", 30) == 1.0
    before = START + timedelta(days=29, hours=23)
    after = START + timedelta(days=30, hours=1)
    sim.publish("before", 0, before, "wellness_tip", "storyteller", 0.7)
    sim.publish("after", 1, after, "wellness_tip", "storyteller", 0.7)
    assert (sim.post("before").day, sim.post("after").day) == (29, 30)
    assert (sim.post("before").true_f_per_1k, sim.post("after").true_f_per_1k) == (1.6, 4.2)
    assert sim.post("before").true_er == pytest.approx(0.031 * 1.0)
    assert sim.post("after").true_er == pytest.approx(0.048)


def test_static_policy_value():
    sim = AudienceSimulator(load_scenario("hidden_gem"))
    w = {"humanVoice": .15, "newsReporter": .12, "storyteller": .12, "interesting": .10, "provocateur": .10,
         "dataNerd": .10, "mythBuster": .10, "coach": .08, "thoughtLeader": .05, "contrarian": .04,
         "explorer": .02, "philosopher": .02}
    assert sim.static_f_per_1k(w) < 0.3 * sim.oracle_f_per_1k()
    assert sim.best_generator() == "philosopher"


# ------------------------------------------------------------------------------------------ followers
def test_followers_include_organic_growth_and_follows():
    sc = load_scenario("default")
    sim = AudienceSimulator(sc)
    assert sim.followers_at(START) == sc.followers
    assert sim.followers_at(START - timedelta(days=3)) == sc.followers
    t10 = START + timedelta(days=10)
    organic = sim.organic_followers(t10)
    assert sim.followers_at(t10) == sc.followers + organic
    assert 5 <= organic <= 40  # Poisson(20)
    long = AudienceSimulator(sc)
    assert long.organic_followers(START + timedelta(days=500)) == pytest.approx(1000, rel=0.1)
    for i in range(20):
        sim.publish(f"d{i}", i, START + timedelta(hours=6 * i), "educational_thread", "dataNerd", 0.7)
    total_follows = sum(p.follows for p in sim.posts)
    assert total_follows > 0
    later = START + timedelta(days=40)
    assert sim.follows_accrued(later) == total_follows
    assert sim.followers_at(later) == sc.followers + sim.organic_followers(later) + total_follows
    mid = START + timedelta(hours=61)
    assert 0 < sim.follows_accrued(mid) < total_follows
    # monotone without measurement noise
    seq = [sim.followers_at(START + timedelta(hours=h)) for h in range(0, 24 * 12, 5)]
    assert seq == sorted(seq)


def test_follower_measurement_noise_is_keyed_by_time():
    base = load_scenario("default").to_dict()
    noisy = AudienceSimulator(Scenario.from_dict({**base, "follower_noise": 5.0}))
    clean = AudienceSimulator(Scenario.from_dict(base))
    times = [START + timedelta(hours=h) for h in range(1, 200, 7)]
    diffs = [noisy.followers_at(t) - clean.followers_at(t) for t in times]
    assert any(d != 0 for d in diffs)
    assert diffs == [noisy.followers_at(t) - clean.followers_at(t) for t in times]
    assert 2.0 < float(np.std(diffs)) < 9.0


# ------------------------------------------------------------------------------------------ Lai–Robbins
def test_lai_robbins_constant_matches_anchor_example():
    """anchors.md §B.4: P(ER > 3%) = [0.60, 0.50, 0.45, 0.40, 0.30] gives sum D/kl = 12.28."""
    probs = dict(zip("abcde", [0.60, 0.50, 0.45, 0.40, 0.30]))
    c = lai_robbins_constant_from_probs(probs)
    assert c == pytest.approx(12.28, abs=0.01)
    assert bernoulli_kl(0.3, 0.3) == 0.0
    assert lai_robbins_constant_from_probs({"a": 0.5, "b": 0.5}) == 0.0


def test_lai_robbins_bound_from_scenario_truth():
    sim = AudienceSimulator(load_scenario("default"))
    mu = sim.content_success_probs()
    assert max(mu, key=mu.get) == "educational_thread"
    assert all(0 < v < 1 for v in mu.values())
    c = sim.lai_robbins_constant()
    assert sim.lai_robbins_bound(1000) == pytest.approx(math.log(1000) * c)
    assert sim.lai_robbins_bound(1) == 0.0
    assert sim.lai_robbins_bound(365) < sim.lai_robbins_bound(1000)
    drift = AudienceSimulator(load_scenario("drift"))
    mu30 = drift.content_success_probs(day=30)
    assert max(mu30, key=mu30.get) == "wellness_tip"


def test_content_success_probs_agree_with_simulation():
    """The quadrature of content_success_probs against the simulator itself (uniform hours, quality 0.7)."""
    sc = load_scenario("default")
    sim = AudienceSimulator(sc, seed=31)
    mu = sim.content_success_probs()
    n = 720
    for j, ct in enumerate(TYPES):
        hits = 0
        for i in range(n):
            idx = j * n + i
            sim.publish(f"d{idx}", idx, START + timedelta(hours=idx), ct, "coach", 0.7)
            p = sim.post(f"d{idx}")
            hits += p.engagements / p.impressions > 0.03
        assert hits / n == pytest.approx(mu[ct], abs=0.055), ct


# ------------------------------------------------------------------------------------------ errors
def test_publish_errors():
    sim = AudienceSimulator(load_scenario("default"))
    sim.publish("a", 0, START, "factual_single", "coach", 0.7)
    with pytest.raises(ValueError, match="already published"):
        sim.publish("a", 1, START, "factual_single", "coach", 0.7)
    with pytest.raises(ValueError, match="post_index 0"):
        sim.publish("b", 0, START, "factual_single", "coach", 0.7)
    with pytest.raises(ValueError, match="content_type"):
        sim.publish("c", 2, START, "memes", "coach", 0.7)
    with pytest.raises(ValueError, match="generator"):
        sim.publish("d", 3, START, "factual_single", "nobody", 0.7)
    with pytest.raises(ValueError, match="quality_score"):
        sim.publish("e", 4, START, "factual_single", "coach", 1.5)
    with pytest.raises(KeyError):
        sim.metrics_at("zzz", START)
    # naive datetimes are UTC
    sim.publish("naive", 5, datetime(2026, 1, 1, 14), "factual_single", "coach", 0.7)
    assert sim.post("naive").local_hour == 14
