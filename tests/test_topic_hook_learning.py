"""Hook and topic arms, formulas and the learned strategy on DuckDB and on PostgreSQL (issue 17): raw → dbt → learn
→ plan, on one hand-made history whose truth is known.

The history (account `acct`, 48 posts over 12 days at 09, 12, 15 and 18 UTC): question hooks engage at 6 %, list
hooks at 4 %, story hooks at 1.5 %; posts on naps engage 2 points more than the others (so a story on naps passes
the 3 % success line); every sixth post is on a
trending topic (marked, judged apart). Posts at 15:00 reach 6,000 impressions (the formulas' views threshold).
Question posts bring 3 follows; posts on caffeine timing 4 more, so the topic that brings followers (caffeine timing)
is not the one that engages (naps). Each post logs the propensities its rotation's choices have on average (a
hook 1/3, a trending slot 1/6, a topic arm 5/6 × 1/3, a generator 1/2), so off-policy estimates can read them.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from services import materialize_for_accounts

from xbot_assets.acting.accounts import Account, register_account
from xbot_assets.acting.planning import plan_posts
from xbot_assets.acting.profile import AccountProfile, store_profile
from xbot_assets.defs.ingest import raw_tables
from xbot_assets.defs.learn import LEARN_ASSETS
from xbot_assets.defs.learn_checks import LEARN_CHECKS
from xbot_assets.defs.resources import ClockResource, RedisResource, WarehouseResource
from xbot_assets.defs.transform import xbot_dbt_assets
from xbot_assets.ingest.load import write_posts, write_viral_examples
from xbot_assets.ingest.metrics import write_metric_snapshots
from xbot_assets.learned.checks import arm_count_mismatches
from xbot_assets.learned.ope_data import off_policy_report
from xbot_assets.learned.strategy import load_strategy
from xbot_assets.learning.ope import TooFewEffectivePosts
from xbot_assets.operator.health import Clock
from xbot_assets.operator.render import render_status
from xbot_assets.operator.status import collect_status
from xbot_assets.warehouse.connection import Warehouse

NOW = datetime(2026, 2, 14)
START = datetime(2026, 2, 1)
TOPICS = ("naps", "morning light", "caffeine timing")
HOOK_TEXTS = {
    "question": "Why do {t} matter more than you think on a night shift?",
    "list": "3 mistakes people make with {t}: timing, dose, and giving up after 2 days.",
    "story": "I ignored {t} for years. Then a colleague showed me her routine after a long shift.",
}
HOOK_ER = {"question": 0.06, "list": 0.04, "story": 0.015}


# Another account's post, far above every own post: inspiration (a trending topic), never a formula or an arm.
VIRAL = {"example_id": "v1", "account_id": "acct", "author_handle": "someone", "topic": "naps before a night shift",
         "content": "Nobody naps right: 90% of nurses nap too long. Here is the 20-minute rule.", "impressions": 900000,
         "likes": 40000, "retweets": 9000, "replies": 3000, "collected_at": NOW - timedelta(days=1)}


def history() -> tuple[list[dict], list[dict]]:
    posts, snapshots = [], []
    for i in range(48):
        posted_at = START + timedelta(days=i // 4, hours=9 + 3 * (i % 4))
        hook = list(HOOK_TEXTS)[i % 3]
        topic = TOPICS[(i // 3) % 3]
        trending = i % 6 == 5
        er = HOOK_ER[hook] + (0.02 if topic == "naps" else 0.0)
        impressions = 6000 if posted_at.hour == 15 else 1000
        decision_id = f"acct-{i:03d}"
        posts.append({
            "decision_id": decision_id, "account_id": "acct", "status": "posted", "decision_type": "single",
            "content": HOOK_TEXTS[hook].format(t=topic), "content_type": "factual_single",
            "generator_name": "dataNerd" if i % 2 else "coach", "topic": topic, "hook": hook, "topic_arm": topic,
            "topic_source": "trending" if trending else "bandit", "quality_score": 0.8, "posted_at": posted_at,
            "hook_propensity": 1 / 3, "topic_propensity": 1 / 6 if trending else 5 / 6 / 3, "generator_propensity": 0.5,
            "content_propensity": 1.0, "timing_propensity": 1.0,
            "tweet_id": f"7{i:05d}", "source": "simulated",
        })
        snapshots.append({
            "decision_id": decision_id, "account_id": "acct", "collected_at": posted_at + timedelta(hours=25),
            "impressions": impressions, "likes": round(er * impressions), "retweets": 0, "replies": 0,
            "follows": (3 if hook == "question" else 0) + (4 if topic == "caffeine timing" else 0),
            "source": "simulated",
        })
    return posts, snapshots


NO_FORGETTING = ("XBOT_ARM_HALF_LIFE_DAYS", "XBOT_GENERATOR_HALF_LIFE_DAYS")


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def learned(request):
    url = request.getfixturevalue("duckdb_url" if request.param == "duckdb" else "pg_url")
    wh = Warehouse.from_url(url)
    wh.migrate()
    posts, snapshots = history()
    with wh.connect() as conn:
        write_posts(conn, posts, now=NOW)
        write_metric_snapshots(conn, snapshots, now=NOW)
        # Imported history carries no hook: the writer classifies it from the text.
        write_posts(conn, [{"decision_id": "imported-1", "account_id": "other", "status": "posted",
                            "content": "How to nap on a 12-hour shift: 20 minutes, before 3 am.",
                            "posted_at": START}], now=NOW)
        write_viral_examples(conn, [VIRAL], now=NOW)
    with pytest.MonkeyPatch.context() as mp:
        for name in NO_FORGETTING:  # these tests count the evidence; forgetting has its own (test_forgetting)
            mp.setenv(name, "0")
        result = materialize_for_accounts(
            [raw_tables, xbot_dbt_assets, *LEARN_ASSETS, *LEARN_CHECKS], url,
            resources={"warehouse": WarehouseResource(url=url),
                       "clock": ClockResource(simulated_now=NOW.isoformat()), "redis": RedisResource(url=None)},
            raise_on_error=False,
        )
    assert result.success
    return wh, result


@pytest.fixture(scope="module")
def duckdb_url(tmp_path_factory):
    return str(tmp_path_factory.mktemp("topic_hook") / "warehouse.duckdb")


@pytest.fixture(scope="module")
def pg_url():
    from services import throwaway_database

    with throwaway_database() as url:
        yield url


def test_hooks_and_topics_reach_the_marts_and_an_imported_post_is_classified(learned):
    wh, _ = learned
    with wh.connect() as conn:
        assert conn.scalar("select hook from raw.posts where decision_id = 'imported-1'") == "how-to"
        rows = conn.fetchall("select hook, topic_arm, topic_source, count(*) from analytics.training_set "
                             "where account_id = 'acct' group by hook, topic_arm, topic_source")
    assert sum(r[3] for r in rows) == 48
    assert {r[0] for r in rows} == set(HOOK_TEXTS) and {r[1] for r in rows} == set(TOPICS)
    assert sum(r[3] for r in rows if r[2] == "trending") == 8


def test_hook_and_topic_arms_are_beta_posteriors_and_trending_posts_teach_no_topic_arm(learned):
    wh, _ = learned
    with wh.connect() as conn:
        arms = conn.fetch_df("select scope, arm_value, plays, successes, alpha, beta, selection_probability "
                             "from learn.bandit_arms where account_id = 'acct' and scope in ('hook', 'topic')")
        assert arm_count_mismatches(conn) == []
    hooks = arms[arms["scope"] == "hook"].set_index("arm_value")
    topics = arms[arms["scope"] == "topic"].set_index("arm_value")
    assert hooks["plays"].to_dict() == {"question": 16, "list": 16, "story": 16}
    # Success is ER > 3 %: every question and list post, a story post only on naps.
    story_on_naps = sum(p["hook"] == "story" and p["topic_arm"] == "naps" for p in history()[0])
    assert hooks.loc["question", "successes"] == 16 and hooks.loc["story", "successes"] == story_on_naps
    assert hooks.loc["question", "alpha"] == 17 and hooks.loc["story", "beta"] == 17 - story_on_naps
    assert topics["plays"].sum() == 40  # the 8 trending posts are judged apart
    assert abs(hooks["selection_probability"].sum() - 1) < 1e-9
    assert topics["selection_probability"].idxmax() == "naps"


def test_planning_reads_the_arms_asks_for_topic_and_hook_and_logs_their_propensities(learned):
    wh, _ = learned
    register_account(wh, Account("acct", posts_per_day=6), NOW)
    store_profile(wh, "acct", AccountProfile(niche="sleep for shift workers", topics=list(TOPICS),
                                             audience="nurses"), NOW)
    report = plan_posts(wh, Account("acct", posts_per_day=6), NOW + timedelta(hours=1))
    assert report.queued >= 1
    with wh.connect() as conn:
        rows = conn.fetch_df("select hook, hook_propensity, topic_arm, topic_source, topic_propensity, content, "
                             "decision_reasons from raw.posts where account_id = 'acct' and created_at = ?",
                             [NOW + timedelta(hours=1)])
    assert len(rows) == len(report.candidates)
    assert set(rows["topic_arm"]) <= set(TOPICS) and set(rows["topic_source"]) <= {"bandit", "trending"}
    assert rows["hook"].isin(list(HOOK_TEXTS) + ["surprising number", "contrarian claim", "how-to", "myth/fact"]).all()
    assert ((rows["hook_propensity"] > 0) & (rows["hook_propensity"] <= 1)).all()
    assert ((rows["topic_propensity"] > 0) & (rows["topic_propensity"] <= 1)).all()
    for reasons, hook in zip(rows["decision_reasons"], rows["hook"], strict=True):
        assert any(r.startswith(f"hook {hook}") for r in json.loads(reasons))


def test_formulas_come_from_the_accounts_own_winners_with_their_performance(learned):
    wh, result = learned
    with wh.connect() as conn:
        formulas = conn.fetch_df("select generator_name, rank, name, structure, hook, example, posts, winners, "
                                 "engagement_rate, f_per_1k, confidence from learn.formulas where account_id = 'acct' "
                                 "order by generator_name, rank")
    overall = formulas[formulas["generator_name"] == "*"].set_index("hook")
    assert list(overall.sort_values("rank").index) == ["question", "list", "story"]
    question = overall.loc["question"]
    assert question["name"] == "Short Question" and question["structure"] == "[question]"
    assert question["posts"] == 16 and question["winners"] == 16
    assert question["confidence"] == pytest.approx(16 / 21)
    posts, snapshots = history()
    asked = [s for p, s in zip(posts, snapshots, strict=True) if p["hook"] == "question"]
    impressions = sum(s["impressions"] for s in asked)
    assert question["engagement_rate"] == pytest.approx(sum(s["likes"] for s in asked) / impressions)
    assert question["f_per_1k"] == pytest.approx(sum(s["follows"] for s in asked) / impressions * 1000)
    # A story wins only on naps (ER 3.5 % >= 2 %) or at 15:00 (6,000 impressions >= 5,000); all 16 are measured.
    story = overall.loc["story"]
    assert story["structure"] == "[personal story]" and story["posts"] == 16 and 0 < story["winners"] < 16
    assert {"coach", "dataNerd"} <= set(formulas["generator_name"])
    assert VIRAL["content"] not in set(formulas["example"])
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.path == ["learn", "formulas"]]
    assert "acct: formulas" in events[0].materialization.metadata


def test_the_strategy_names_what_works_with_its_evidence_and_status_shows_it(learned):
    wh, _ = learned
    with wh.connect() as conn:
        strategy = load_strategy(conn, "acct")
    assert strategy["posts"] == 48
    naps = sum(p["topic_arm"] == "naps" and p["topic_source"] == "bandit" for p in history()[0])
    assert strategy["top_topics"][0]["topic"] == "naps" and strategy["top_topics"][0]["posts"] == naps
    assert strategy["effective_hooks"][0]["hook"] == "question" and strategy["effective_hooks"][0]["posts"] == 16
    assert len(strategy["best_hours"]) == 3 and all(h["posts"] == 12 for h in strategy["best_hours"])
    assert strategy["best_formulas"][0]["name"] == "Short Question"
    assert {g["generator"] for g in strategy["generator_performance"]} == {"coach", "dataNerd"}
    assert strategy["trending_vs_bandit"]["trending"]["posts"] == 8
    assert strategy["trending_vs_bandit"]["bandit"]["posts"] == 40
    clock = Clock(now=NOW, source="as_of", wall=NOW)
    status = collect_status(wh, clock, "acct")
    text = render_status(status)
    with wh.connect() as conn:  # what each learner forgot at is what it stored, per arm scope and for the posterior
        stored = dict(conn.fetchall("select scope, max(half_life_days) from learn.bandit_arms where account_id = ? "
                                    "group by scope", ["acct"]))
    forgetting = status["accounts"][0]["forgetting"]
    assert {k: forgetting[k] for k in stored} == stored and "generator posterior" in forgetting
    assert "forgetting (half-life of the evidence" in text
    assert "learned strategy (from 48 gated posts" in text
    assert f"top topics: naps ({naps} posts" in text and "effective hooks: question (16 posts" in text
    assert "best formulas: Short Question = [question] (16 posts" in text
    # A change found in a generator's follow rate (learning/change_points.py) is shown with the date it restarts at.
    with wh.connect() as conn:
        conn.execute("update learn.generator_posteriors set forgotten_before = ? where account_id = 'acct'",
                     [NOW - timedelta(days=5)])
    changed = collect_status(wh, clock, "acct")
    assert changed["accounts"][0]["change_found"] == (NOW - timedelta(days=5)).isoformat()
    assert (f"the follow rate changed: the generator posteriors forget the evidence before "
            f"{(NOW - timedelta(days=5)):%Y-%m-%d %H:%M}") in render_status(changed)
    # The operator's dashboard shows the same strategy, in the same words, with the arms' evidence in a table.
    from xbot_assets.pages.dashboard import render_dashboard
    from xbot_assets.pages.data import read_dashboard

    page = render_dashboard(read_dashboard(wh, "acct", NOW))
    section = page[page.index('<section id="strategy">'):]
    section = section[: section.index("</section>")]
    assert f'<dd data-item="top topics">naps ({naps} posts' in section
    assert '<dd data-item="effective hooks">question (16 posts' in section
    assert '<td>topic</td><td>naps</td><td>' + str(naps) + '</td>' in section
    assert "<td>Short Question</td><td>[question]</td>" in section
    assert '<td>trending topics</td><td>8</td>' in section and "<td>the topic arms&#x27; choices</td><td>40</td>" \
        in section


def test_planning_sees_the_trending_topic_and_writes_with_the_formulas(learned):
    wh, _ = learned
    with wh.connect() as conn:
        from xbot_assets.acting.formulas import best_formulas
        from xbot_assets.acting.trending import load_trending

        trending = load_trending(conn, "acct", list(TOPICS), NOW + timedelta(hours=1))
        formulas = best_formulas(conn, "acct", ["coach", "philosopher"])
    assert [(t.label, t.profile_topic) for t in trending] == [("naps before a night shift", "naps")]
    assert formulas["coach"][0]["name"] == "Short Question"
    assert formulas["philosopher"][0]["name"] == "Short Question"  # never used one: the account's best


def test_topic_arms_can_learn_on_followers_per_1000_impressions_and_the_planner_draws_from_them(learned):
    """XBOT_TOPIC_REWARD=f_per_1k: the topic arms become Gamma posteriors of F/1K (the generator posterior's model),
    naming the topic that brings followers; the planner Thompson-samples them; the counts still check."""
    import numpy as np

    from xbot_assets.acting.arm_choices import choose_topic
    from xbot_assets.acting.planner import PlanSettings
    from xbot_assets.acting.planning import load_planning_state
    from xbot_assets.learned.arms import compute_bandit_arms, write_bandit_arms
    from xbot_assets.learned.store import LearningSettings
    from xbot_assets.learned.strategy import compute_strategy, strategy_summary

    wh, _ = learned
    on_follows = LearningSettings(arm_half_life_days=None, topic_reward="f_per_1k")
    with wh.connect() as conn:
        arms = compute_bandit_arms(conn, "acct", NOW, on_follows)
        on_success = compute_bandit_arms(conn, "acct", NOW, LearningSettings(arm_half_life_days=None))
    topics = arms[arms["scope"] == "topic"].set_index("arm_value")
    assert set(arms.loc[arms["scope"] != "topic", "reward"]) == {"success"}
    assert (topics["reward"] == "f_per_1k").all()
    # By hand from the history: the bandit's posts of each topic (trending ones teach no arm), prior centred on the
    # typical topic's F/1K with the weight of one average post.
    posts, snapshots = history()
    taught = [(p["topic_arm"], s["impressions"] / 1000, s["follows"]) for p, s in zip(posts, snapshots, strict=True)
              if p["topic_source"] == "bandit"]
    shown = {t: sum(k for topic, k, _ in taught if topic == t) for t in TOPICS}
    gained = {t: sum(f for topic, _, f in taught if topic == t) for t in TOPICS}
    prior_rate = sum(shown.values()) / len(taught)
    prior_shape = np.mean([gained[t] / shown[t] for t in TOPICS]) * prior_rate
    for topic in TOPICS:
        assert topics.loc[topic, "alpha"] == pytest.approx(prior_shape + gained[topic])
        assert topics.loc[topic, "beta"] == pytest.approx(prior_rate + shown[topic])
        assert topics.loc[topic, "prior_alpha"] == pytest.approx(prior_shape)
        assert topics.loc[topic, "posterior_mean"] == pytest.approx(
            (prior_shape + gained[topic]) / (prior_rate + shown[topic]))
    # Plays and successes keep the success rule's counts; only what the arm is a posterior of changed.
    success_topics = on_success[on_success["scope"] == "topic"].set_index("arm_value")
    assert topics["plays"].to_dict() == success_topics["plays"].to_dict()
    assert topics["successes"].to_dict() == success_topics["successes"].to_dict()
    assert success_topics["selection_probability"].idxmax() == "naps"  # engages most
    assert topics["selection_probability"].idxmax() == "caffeine timing"  # brings the followers
    assert topics["selection_probability"].sum() == pytest.approx(1.0)

    register_account(wh, Account("acct", posts_per_day=6), NOW)
    try:
        with wh.connect() as conn:
            write_bandit_arms(conn, "acct", arms)
            assert arm_count_mismatches(conn) == []
            strategy = compute_strategy(conn, "acct", NOW)
        # The strategy ranks topics by what they were learned on, and its words say it.
        top = strategy["top_topics"][0]
        assert (top["topic"], top["learned_on"]) == ("caffeine timing", "f_per_1k")
        assert top["posterior_mean"] == pytest.approx(topics.loc["caffeine timing", "posterior_mean"], rel=1e-5)
        words = dict(strategy_summary(strategy))["top topics"]
        assert words.startswith("caffeine timing (") and f"posterior F/1K {top['posterior_mean']:.2f}" in words
        assert "posterior F/1K" not in dict(strategy_summary(strategy))["effective hooks"]
        state, _ = load_planning_state(wh, Account("acct", posts_per_day=6), PlanSettings(), NOW)
        assert set(state.topic_arms["reward"]) == {"f_per_1k"}
        rng = np.random.default_rng(7)
        weights = {t: 1 / 3 for t in TOPICS} | {"a new topic": 0.0}
        picks = [choose_topic(weights, state.topic_arms, [], learn=True, trending_share=0.35, rng=rng)
                 for _ in range(400)]
        share = {t: sum(c.topic_arm == t for c in picks) / len(picks) for t in weights}
        assert max(share, key=share.get) == "caffeine timing" and {c.source for c in picks} == {"bandit"}
        # A never-played topic draws from the prior the learned ones started from, so it is still explored.
        assert 0 < share["a new topic"] < share["caffeine timing"]
        # The logged propensity is the Gamma draw's chance: over the learned topics, the stored one's.
        for _ in range(5):
            pick = choose_topic({t: 1 / 3 for t in TOPICS}, state.topic_arms, [], learn=True, trending_share=0.35,
                                rng=rng)
            assert pick.propensity == pytest.approx(topics.loc[pick.topic_arm, "selection_probability"], abs=0.03)
    finally:
        with wh.connect() as conn:
            write_bandit_arms(conn, "acct", on_success)


def test_off_policy_estimates_of_a_hook_or_topic_target_read_the_logged_choices(learned, tmp_path):
    """A target that always uses the question hook (or caffeine timing, never trending): IPW and SNIPW of a ratio
    are the reweighted posts' own F/1K, here exactly those posts' followers over their impressions."""
    wh, _ = learned
    posts, snapshots = history()
    follows = {s["decision_id"]: (s["follows"], s["impressions"]) for s in snapshots}

    def f_per_1k(chosen) -> float:
        picked = [follows[p["decision_id"]] for p in posts if chosen(p)]
        return 1000 * sum(f for f, _ in picked) / sum(i for _, i in picked)

    question = tmp_path / "question.json"
    question.write_text(json.dumps({"hooks": {"question": 1.0}}))
    with pytest.raises(TooFewEffectivePosts, match="effective sample size of 16.0 of 48 logged posts, below 30"):
        off_policy_report(wh, "acct", str(question), bootstrap=50)
    report = off_policy_report(wh, "acct", str(question), bootstrap=50, min_effective=16)
    assert report["posts"] == 48 and report["evaluated"] == ["hooks"]
    assert report["effective_sample_size"] == pytest.approx(16)  # weight 3 on the 16 question posts, 0 elsewhere
    for name in ("ipw", "snipw"):
        assert report["f_per_1k"]["estimates"][name]["value"] == pytest.approx(f_per_1k(lambda p: p["hook"] ==
                                                                                         "question"))

    caffeine = tmp_path / "caffeine.json"
    caffeine.write_text(json.dumps({"topics": {"caffeine timing": 1.0}}))
    report = off_policy_report(wh, "acct", str(caffeine), bootstrap=50, min_effective=0)
    assert "topics: 8 posts took the trending topic, an action a topic target never takes (weight 0)" in \
        report["notes"]
    on_caffeine = lambda p: p["topic_arm"] == "caffeine timing" and p["topic_source"] == "bandit"  # noqa: E731
    assert report["f_per_1k"]["estimates"]["ipw"]["value"] == pytest.approx(f_per_1k(on_caffeine))
    assert report["f_per_1k"]["estimates"]["dr"]["value"] > report["f_per_1k"]["observed"]  # caffeine brings 4 more
