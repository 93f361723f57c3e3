"""The offline generator writes from the account's profile: its topics by weight, its audience, its thread limits,
labelled `[offline]`; no key and no server needed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xbot_assets.acting.generators.offline import PROFILE_TEMPLATES, generate_offline_on
from xbot_assets.acting.text_features import quality_score, weighted_length
from xbot_assets.operator.cli import main
from xbot_assets.runtime.instance import definitions
from xbot_assets.warehouse.connection import Warehouse

AS_OF = "2026-12-02T06:00:00Z"
PROFILE = """
niche: personal finance for first-time earners
topics: [{name: emergency fund, weight: 3}, {name: index investing, weight: 1}]
audience: graduates in their first job
banned_words: [guaranteed]
thread: {min_parts: 3, max_parts: 3}
"""


@pytest.mark.parametrize("generator_name", sorted(PROFILE_TEMPLATES))
def test_every_persona_on_a_long_topic_fits_x_and_passes_the_quality_gate(generator_name):
    topic, audience = "x" * 40 + " budgeting", "graduates in their first job"
    for seed in range(6):
        draft = generate_offline_on(topic, audience, generator_name, "factual_single", np.random.default_rng(seed))
        assert topic in draft.text and draft.topic == f"{topic} [offline]" and draft.model == "offline"
        assert weighted_length(draft.text) <= 280
        assert quality_score(draft.text).value >= 0.6, (draft.text, quality_score(draft.text).reasons)


@pytest.fixture
def planned(duckdb_url, tmp_path, monkeypatch):
    def plan(profile: str) -> list[dict]:
        monkeypatch.setenv("XBOT_WAREHOUSE", duckdb_url)
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
        monkeypatch.setenv("XBOT_POSTS_PER_DAY", "8")
        definitions.cache_clear()
        Warehouse.from_url(duckdb_url).migrate()
        (tmp_path / "profile.yaml").write_text(profile)
        assert main(["accounts", "add", "me", "--connector", "simulator", "--posts-per-day", "8"]) == 0
        assert main(["accounts", "profile", "me", "--file", str(tmp_path / "profile.yaml")]) == 0
        assert main(["plan", "--as-of", AS_OF]) == 0
        with Warehouse.from_url(duckdb_url).connect() as conn:
            rows = conn.fetch_df("select status, skip_reason, topic, content, thread_parts, content_type "
                                 "from raw.posts order by decision_id").to_dict("records")
        definitions.cache_clear()
        return rows

    return plan


def test_a_plan_writes_on_the_profile_topics_for_its_audience(planned):
    rows = planned(PROFILE)
    queued = [r for r in rows if r["status"] == "queued"]
    assert queued
    assert {r["topic"] for r in rows if r["topic"]} <= {"emergency fund [offline]", "index investing [offline]"}
    assert all(("emergency fund" in r["content"] or "index investing" in r["content"]) for r in queued)
    threads = [r for r in rows if r["content_type"] == "educational_thread" and r["thread_parts"]]
    assert threads and all(len(json.loads(r["thread_parts"])) == 3 for r in threads)  # the profile allows exactly 3


def test_a_profile_in_another_language_is_skipped_with_the_reason(planned):
    rows = planned(PROFILE + "language: de\n")
    assert rows and all(r["status"] == "skipped" for r in rows)
    assert all("the templates are English" in r["skip_reason"] for r in rows)
