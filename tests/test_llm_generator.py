"""The language-model generator with the real openai SDK against a local OpenAI-compatible server (openai 3.x sends
through httpx2, so nothing patches the transport: every request crosses a socket on 127.0.0.1)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from openai import OpenAI
from openai_server import FakeOpenAIServer

from xbot_assets.acting.generators.llm import GenerationFailed, LLMGenerator, LLMSettings
from xbot_assets.acting.generators.personas import PERSONAS
from xbot_assets.warehouse.connection import Warehouse

NOW = datetime(2026, 12, 1, 8, 0)
THREAD = json.dumps({"text": None, "parts": ["Caffeine has a 5-hour half-life.", "A 3 pm coffee is half there at 8.",
                                             "Move it before noon for a week."],
                     "topic": "caffeine", "hook": "surprising number", "claim": "afternoon caffeine cuts deep sleep"})


@pytest.fixture
def server():
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def wh(duckdb_url) -> Warehouse:
    warehouse = Warehouse.from_url(duckdb_url)
    warehouse.migrate()
    return warehouse


def generator(server, wh=None, **settings) -> LLMGenerator:
    s = LLMSettings(model="test-model", timeout_seconds=settings.pop("timeout_seconds", 5.0),
                    max_retries=settings.pop("max_retries", 2), **settings)
    client = OpenAI(base_url=server.base_url, api_key="test-key", timeout=s.timeout_seconds, max_retries=s.max_retries)
    return LLMGenerator(client, s, wh, "main", clock=lambda: NOW)


def calls(wh) -> list[tuple]:
    with wh.connect() as conn:
        return conn.fetchall("select mode, outcome, prompt_tokens, completion_tokens, cost_usd, prompt_version "
                             "from act.llm_calls order by rowid")  # DuckDB: insertion order


def test_twelve_personas_with_versions():
    assert set(PERSONAS) == {"humanVoice", "newsReporter", "storyteller", "interesting", "provocateur", "dataNerd",
                             "mythBuster", "coach", "thoughtLeader", "contrarian", "explorer", "philosopher"}
    versions = {p.version for p in PERSONAS.values()}
    assert len(versions) == 12 and all("@" in v for v in versions)


def test_json_schema_output_is_validated_and_recorded(server, wh):
    draft = generator(server, wh).generate("coach", "wellness_tip", "morning light")
    assert draft.text.startswith("Morning light") and draft.output.hook == "how-to"
    assert draft.prompt_version == PERSONAS["coach"].version and draft.model == "test-model"
    sent = server.state.requests[0]
    assert sent["response_format"]["type"] == "json_schema" and sent["response_format"]["json_schema"]["strict"]
    assert sent["temperature"] == PERSONAS["coach"].temperature
    [(mode, outcome, prompt_tokens, completion_tokens, cost, version)] = calls(wh)
    assert (mode, outcome, version) == ("json_schema", "answered", PERSONAS["coach"].version)
    assert cost == pytest.approx((prompt_tokens * 0.15 + completion_tokens * 0.60) / 1e6)
    assert draft.prompt_tokens == prompt_tokens and draft.cost_usd == pytest.approx(cost)


def test_a_thread(server):
    server.state.answer({"content": THREAD})
    draft = generator(server).generate("dataNerd", "educational_thread", "caffeine", thread=True)
    assert len(draft.thread_parts) == 3 and draft.text == draft.thread_parts[0]


def test_servers_without_json_schema_fall_back_to_json_object_then_plain(server, wh):
    server.state.supports_json_schema = False
    server.state.supports_json_object = False
    plain = "Sure! Here it is:\n```json\n" + server.state.default_content + "\n```"
    server.state.answer({"content": plain})
    gen = generator(server, wh)
    draft = gen.generate("humanVoice", "wellness_tip", "sleep")
    assert draft.text.startswith("Morning light") and gen.mode == "plain"
    assert [r.get("response_format", {}).get("type") for r in server.state.requests] == [
        "json_schema", "json_object", None]
    assert [c[:2] for c in calls(wh)] == [("json_schema", "refused"), ("json_object", "refused"),
                                          ("plain", "answered")]


def test_invalid_output_is_asked_again_then_the_slot_is_skipped_with_the_reason(server):
    server.state.answer({"content": "not json at all"}, {"content": json.dumps({"text": "x", "parts": ["a", "b"],
                                                                                "topic": "t", "hook": "list",
                                                                                "claim": "c"})})
    draft = generator(server).generate("coach", "wellness_tip", "sleep")  # third answer is the default, valid
    assert draft.attempts == 3 and len(server.state.requests) == 3
    assert "not valid" in server.state.requests[1]["messages"][-1]["content"]
    server.state.answer(*[{"content": "{}"}] * 3)
    with pytest.raises(GenerationFailed, match="no valid output after 3 attempts"):
        generator(server).generate("coach", "wellness_tip", "sleep")


def test_429_and_500_are_retried_by_the_sdk(server, wh):
    server.state.answer({"status": 429}, {"status": 500})
    draft = generator(server, wh, max_retries=2).generate("coach", "wellness_tip", "sleep")
    assert draft.text and len(server.state.requests) == 3
    server.state.answer({"status": 500}, {"status": 500}, {"status": 500})
    with pytest.raises(GenerationFailed, match="InternalServerError"):
        generator(server, wh, max_retries=2).generate("coach", "wellness_tip", "sleep")
    assert calls(wh)[-1][1] == "error"


def test_a_slow_answer_times_out(server):
    server.state.answer({"slow": 2.0, "content": server.state.default_content})
    with pytest.raises(GenerationFailed, match="APITimeoutError"):
        generator(server, timeout_seconds=0.5, max_retries=0).generate("coach", "wellness_tip", "sleep")


def test_the_daily_budget_stops_generation(server, wh):
    gen = generator(server, wh, daily_budget_usd=0.0005)
    gen.generate("coach", "wellness_tip", "sleep")
    with pytest.raises(GenerationFailed, match="llm daily budget"):
        for _ in range(20):
            gen.generate("coach", "wellness_tip", "sleep")
    assert len(server.state.requests) < 21


def test_viral_examples_go_into_the_prompt_as_structure_only(server):
    examples = ["Nobody tells you this about sleep: 90% of...", "I tracked my HRV for 100 days. Here's what changed"]
    generator(server).generate("storyteller", "educational_thread", "sleep", examples=examples)
    prompt = server.state.requests[0]["messages"][1]["content"]
    assert "Do not copy" in prompt and all(f"<example>{e}</example>" in prompt for e in examples)


def test_the_key_is_sent_only_as_the_bearer_header(server, wh):
    generator(server, wh).generate("coach", "wellness_tip", "sleep")
    assert "test-key" not in json.dumps(server.state.requests)
    with wh.connect() as conn:
        assert "test-key" not in str(conn.fetchall("select * from act.llm_calls"))


def test_a_refusal_skips_the_attempt_without_asking_again(server, wh):
    server.state.answer({"refusal": "I can't help with that."})
    with pytest.raises(GenerationFailed, match="the model refused: I can't help with that"):
        generator(server, wh).generate("coach", "wellness_tip", "sleep")
    assert len(server.state.requests) == 1
    [(mode, outcome, prompt_tokens, _, cost, _)] = calls(wh)
    assert outcome == "refused" and prompt_tokens > 0 and cost > 0  # an answer: its tokens are billed


def test_a_server_refusing_the_key_is_not_asked_again_and_alerts(server, wh):
    gen = generator(server, wh, max_retries=0)
    server.state.answer({"status": 403})
    with pytest.raises(GenerationFailed, match="PermissionDeniedError"):
        gen.generate("coach", "wellness_tip", "sleep")
    with pytest.raises(GenerationFailed, match="not asked, the model's server failed earlier"):
        gen.generate("coach", "wellness_tip", "sleep")
    assert len(server.state.requests) == 1
    with wh.connect() as conn:
        [(alert_id, error)] = conn.fetchall("select alert_id, error from act.alerts")
    assert alert_id == "llm_unavailable:main:2026-12-01T08" and "403" in error


def test_a_bad_request_skips_only_that_attempt(server, wh):
    gen = generator(server, wh, max_retries=0)
    server.state.answer({"status": 400})
    with pytest.raises(GenerationFailed, match="the server refused the request"):
        gen.generate("coach", "wellness_tip", "sleep")
    assert gen.generate("coach", "wellness_tip", "sleep").text and gen.unavailable is None
