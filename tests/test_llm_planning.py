"""Planning with the language-model generator end to end: `xbot accounts add --generator llm`, a profile, viral
examples, `xbot plan` — the real openai SDK against the local OpenAI-compatible server, on DuckDB."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from openai_server import FakeOpenAIServer

from xbot_assets.acting.generators.personas import PERSONAS
from xbot_assets.ingest.load import write_viral_examples
from xbot_assets.operator.cli import main
from xbot_assets.runtime.instance import definitions
from xbot_assets.warehouse.connection import Warehouse

AS_OF = "2026-12-02T06:00:00Z"
PROFILE = """
niche: sleep for shift workers
topics: [morning light]
audience: nurses on rotating shifts
tone_rules: [plain words]
banned_words: [miracle]
"""
EXAMPLE = "Nobody tells nurses this: morning light for 10 minutes resets your clock faster than any pill."


@pytest.fixture
def env(duckdb_url, tmp_path, monkeypatch):
    server = FakeOpenAIServer().__enter__()
    for key, value in {"XBOT_WAREHOUSE": duckdb_url, "DAGSTER_HOME": str(tmp_path / "dagster_home"),
                       "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test-key",
                       "XBOT_LLM_MODEL": "test-model", "XBOT_LLM_MAX_RETRIES": "0"}.items():
        monkeypatch.setenv(key, value)
    definitions.cache_clear()
    wh = Warehouse.from_url(duckdb_url)
    wh.migrate()
    (tmp_path / "profile.yaml").write_text(PROFILE)
    yield wh, server, tmp_path / "profile.yaml"
    definitions.cache_clear()
    server.__exit__(None, None, None)


def llm_account_with_an_example(wh, profile, **counts) -> None:
    """Account `me`, written by the model, with the profile and one harvested viral example on its topic."""
    assert main(["accounts", "add", "me", "--connector", "simulator", "--generator", "llm"]) == 0
    assert main(["accounts", "profile", "me", "--file", str(profile)]) == 0
    example = {"example_id": "x-1", "account_id": "me", "content": EXAMPLE, "likes": 900, "topic": "morning light",
               "collected_at": datetime(2026, 12, 1), **counts}
    with wh.connect() as conn:
        write_viral_examples(conn, [example], now=datetime(2026, 12, 1))


def decisions(wh) -> list[dict]:
    with wh.connect() as conn:
        frame = conn.fetch_df("select decision_id, status, skip_reason, content, generator_name, "
                              "generator_prompt_version, generator_model, topic from raw.posts order by decision_id")
    return frame.to_dict("records")


def test_without_a_profile_every_attempt_is_skipped_with_the_reason(env):
    wh, server, _ = env
    assert main(["accounts", "add", "me", "--connector", "simulator", "--generator", "llm"]) == 0
    assert main(["plan", "--as-of", AS_OF]) == 0
    rows = decisions(wh)
    assert rows and all(r["status"] == "skipped" and "has no profile" in r["skip_reason"] for r in rows)
    assert not server.state.requests  # nothing is asked of the model, and the offline generator did not stand in


def test_the_model_writes_from_the_profile_with_viral_examples_and_every_decision_says_so(env, capsys):
    wh, server, profile = env
    llm_account_with_an_example(wh, profile)
    assert main(["plan", "--as-of", AS_OF]) == 0
    rows = decisions(wh)
    queued = [r for r in rows if r["status"] == "queued"]
    assert queued and all(r["generator_model"] == "test-model" for r in queued)
    assert all(r["generator_prompt_version"] == PERSONAS[r["generator_name"]].version for r in queued)
    asked = [m["content"] for r in server.state.requests for m in r["messages"] if m["role"] == "user"]
    assert all("morning light" in a and f"<example>{EXAMPLE}</example>" in a for a in asked)
    system = server.state.requests[0]["messages"][0]["content"]
    assert "Never use the word 'miracle'." in system and "plain words" in system
    with wh.connect() as conn:
        calls, tokens, cost = conn.fetchone("select count(*), sum(prompt_tokens + completion_tokens), sum(cost_usd) "
                                            "from act.llm_calls where outcome = 'answered'")
    assert calls == len(server.state.requests) and tokens > 0 and cost > 0
    # `xbot status` shows the same calls, tokens and spend, for today and the month.
    capsys.readouterr()
    assert main(["status", "--json", "--no-jobs", "--as-of", AS_OF]) in (0, 1, 2)
    llm = json.loads(capsys.readouterr().out)["accounts"][0]["llm"]
    assert llm["today"] == llm["month"]
    assert llm["today"]["calls"] == calls and llm["today"]["failed_calls"] == 0
    assert llm["today"]["prompt_tokens"] + llm["today"]["completion_tokens"] == tokens
    assert llm["today"]["spend_usd"] == pytest.approx(cost, abs=1e-6)
    assert main(["status", "--no-jobs", "--as-of", AS_OF]) in (0, 1, 2)
    assert f"language model today: {calls} calls (0 failed)" in capsys.readouterr().out
    # The viral example stays prompt material: it is in no decision and in no mart the learners read.
    assert not any(EXAMPLE in (r["content"] or "") for r in rows)


def test_a_near_copy_of_a_viral_example_is_rejected(env):
    wh, server, profile = env
    llm_account_with_an_example(wh, profile)
    copy = json.dumps({"text": EXAMPLE, "parts": None, "topic": "morning light", "hook": "story",
                       "claim": "morning light resets the clock"})
    server.state.default_content = copy
    server.state.thread_content = json.dumps({"text": None, "parts": [EXAMPLE, "So go outside."],
                                              "topic": "morning light", "hook": "story", "claim": "light"})
    assert main(["plan", "--as-of", AS_OF]) == 0
    rows = decisions(wh)
    assert rows and all(r["status"] == "skipped" and "copy gate" in r["skip_reason"] for r in rows)


def test_the_demo_runs_end_to_end_with_the_language_model(env, tmp_path, capsys):
    wh, server, _ = env
    assert main(["demo", "--days", "2", "--generator", "llm", "--report", str(tmp_path / "report.html")]) == 0
    out = capsys.readouterr().out
    assert "written by the llm generator" in out and (tmp_path / "report.html").exists()
    with wh.connect() as conn:
        models = dict(conn.fetchall("select account_id, max(generator_model) from raw.posts where status = 'posted' "
                                    "group by 1"))
        calls = conn.scalar("select count(*) from act.llm_calls where account_id = 'demo'")
    assert models == {"demo": "test-model", "demo-static": "offline"}  # the static baseline keeps the templates
    assert calls == len(server.state.requests) > 0


def test_viral_examples_never_reach_the_training_set_or_the_arms(env):
    wh, _, profile = env
    llm_account_with_an_example(wh, profile, likes=90000, impressions=900000)
    assert main(["plan", "--as-of", AS_OF]) == 0
    assert main(["refresh", "--as-of", AS_OF]) == 0
    with wh.connect() as conn:
        for relation in ("analytics.outcomes", "analytics.training_set", "learn.bandit_arms"):
            text = str(conn.fetchall(f"select * from {relation}"))
            assert "x-1" not in text and EXAMPLE not in text and "90000" not in text, relation
        assert conn.scalar("select count(*) from staging.stg_viral_examples") == 1  # harvested, kept apart


def test_the_same_post_or_thread_is_never_queued_twice(env):
    """The server answers every single post and every thread with the same text: one of each is queued, every later
    attempt is refused by the repeat gate with its reason (issue 17: identical threads had both been queued)."""
    wh, server, profile = env
    llm_account_with_an_example(wh, profile)
    assert main(["plan", "--as-of", AS_OF]) == 0
    with wh.connect() as conn:
        rows = conn.fetch_df("select status, skip_reason, content, thread_parts from raw.posts").to_dict("records")
    queued = [r for r in rows if r["status"] == "queued"]
    assert len({r["content"] for r in queued}) == len(queued) <= 2
    repeats = [r for r in rows if r["skip_reason"] and "repeat gate" in r["skip_reason"]]
    assert repeats and all(r["content"] in {q["content"] for q in queued} for r in repeats)
