"""Faults of the language model's server, end to end: an account written by the model (`xbot accounts add
--generator llm`, a profile, a viral example: test_llm_planning's helper), `plan_posts` with the real openai SDK
against the local OpenAI-compatible server (tests/openai_server.py) scripted to time out, refuse or answer garbage.
Each test measures from the warehouse and the server's log: the candidates written (none lost), the queued
decisions per slot and text (none twice), each skip's reason, `act.llm_calls` against the server's requests, and
the alerts. The SDK's own retries are off (XBOT_LLM_MAX_RETRIES=0) so one recorded call is one request."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from openai_server import FakeOpenAIServer
from test_llm_planning import PROFILE, llm_account_with_an_example

from xbot_assets.acting.accounts import find_account
from xbot_assets.acting.planning import plan_posts
from xbot_assets.runtime.instance import definitions
from xbot_assets.warehouse.connection import Warehouse

NOW = datetime(2026, 12, 2, 6, 0)
LINES = ("Ten minutes of daylight before 9 am moves your body clock earlier.",
         "Night shift tomorrow? Wear sunglasses on the drive home to keep your clock on nights.",
         "A bright window beats a dim lamp by a factor of twenty in lux.",
         "Skip the screen at 3 am; reach for a short walk under real light at sunrise instead.",
         "Your first coffee works better after light exposure than before it.",
         "Rotating shifts: anchor one daily light session, whatever your roster says.",
         "Cloudy mornings still give you five times the light of an office.",
         "Light at the wrong hour shifts your clock the wrong way: time it to your next sleep.")
GARBAGE = ("Sure! Here is a post about morning light.", '{"text": "Morning light.", "mood": "upbeat"}')


def distinct_posts():
    """The server's answer when nothing is scripted: a different post each time, a thread when one is asked for."""
    answered = itertools.count()

    def write(body: dict) -> str:
        n = next(answered)
        pick = [LINES[(n + i) % len(LINES)] for i in range(3)]
        thread = "Write one thread" in body["messages"][1]["content"]
        return json.dumps({"text": None if thread else pick[0], "parts": pick if thread else None,
                           "topic": "morning light", "hook": "how-to", "claim": "morning light shifts the clock"})

    return write


@pytest.fixture
def planner(warehouse_url, tmp_path, monkeypatch):
    """The account `me` on the test's warehouse, written by the model of a local server; `plan(at)` plans."""
    with FakeOpenAIServer() as server:
        for key, value in {"XBOT_WAREHOUSE": warehouse_url, "DAGSTER_HOME": str(tmp_path / "dagster_home"),
                           "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test-key",
                           "XBOT_LLM_MODEL": "test-model", "XBOT_LLM_MAX_RETRIES": "0",
                           "XBOT_LLM_TIMEOUT_SECONDS": "0.3"}.items():
            monkeypatch.setenv(key, value)
        definitions.cache_clear()
        wh = Warehouse.from_url(warehouse_url)
        wh.migrate()
        (tmp_path / "profile.yaml").write_text(PROFILE)
        llm_account_with_an_example(wh, tmp_path / "profile.yaml")
        server.state.writer = distinct_posts()
        with wh.connect() as conn:
            account = find_account(conn, "me")
        yield wh, server, lambda at=NOW: plan_posts(wh, account, at)
        definitions.cache_clear()


@dataclass
class Measured:
    candidates: int
    rows_lost: int
    duplicates: int  # queued decisions sharing a slot or a text
    queued: int
    skipped: Counter  # reason without its details → candidates
    calls: int  # act.llm_calls rows
    requests: int  # what the server was asked (its own log)
    cost: float
    alerts: int
    seconds: float

    def line(self) -> str:
        reasons = ", ".join(f"{n} × {r!r}" for r, n in self.skipped.most_common())
        return (f"{self.candidates} candidates in {self.seconds:.1f} s: {self.queued} queued, skipped {reasons or 0}; "
                f"{self.calls} calls recorded for {self.requests} requests (${self.cost:.6f}); {self.alerts} alert(s)")

    def llm_reasons(self) -> Counter:
        """The skips the model's server caused (the planner's own gates left out)."""
        return Counter({r: n for r, n in self.skipped.items() if r.startswith("llm: ")})


def _reason(text: str) -> str:
    """A skip reason without its details: 'llm: APITimeoutError', 'quality gate'."""
    prefix = "llm: " if text.startswith("llm: ") else ""
    return prefix + re.split(r": | \(", text.removeprefix(prefix))[0]


def plan_and_measure(wh: Warehouse, server: FakeOpenAIServer, plan, at=NOW, before: frozenset = frozenset()):
    started = time.perf_counter()
    report = plan(at)
    seconds = time.perf_counter() - started
    with wh.connect() as conn:
        rows = conn.fetchall("select decision_id, status, skip_reason, content, scheduled_at from raw.posts")
        calls, cost = conn.fetchone("select count(*), coalesce(sum(cost_usd), 0) from act.llm_calls")
        alerts = conn.scalar("select count(*) from act.alerts")
    planned = {c.decision_id for c in report.candidates}
    queued = [r for r in rows if r[1] == "queued"]
    duplicates = (len(queued) - len({r[4] for r in queued})) + (len(queued) - len({r[3] for r in queued}))
    skipped = Counter(_reason(r[2]) for r in rows if r[1] == "skipped" and r[0] in planned)
    lost = len((before | planned) - {r[0] for r in rows})
    return report, Measured(len(planned), lost, duplicates, len(queued), skipped, int(calls),
                            len(server.state.requests), float(cost), int(alerts), seconds)


def test_the_model_timing_out_stops_asking_for_the_run_and_alerts(planner, fault):
    wh, server, plan = planner
    fault.expect("platform", "LLM server timing out",
                 "the attempt skipped with the reason; the server not asked again this run (the rest skipped at "
                 "once), alert; the next run plans the free slots")
    server.state.answer(*[{"slow": 0.6, "content": LINES[0]}] * 30)
    report, first = plan_and_measure(wh, server, plan)
    server.state.script.clear()  # the server answers again
    _, m = plan_and_measure(wh, server, plan, NOW + timedelta(hours=2), frozenset(c.decision_id
                                                                                 for c in report.candidates))
    fault.measure(f"first run: {first.line()}; two hours later: {m.line()}", rows_lost=first.rows_lost + m.rows_lost,
                  double_posts=m.duplicates)
    assert first.requests == 1 and first.calls == 1 and first.queued == 0 and first.alerts == 1
    assert first.skipped["llm: APITimeoutError"] == 1 and sum(first.skipped.values()) == first.candidates > 1
    assert m.queued > 0 and (first.rows_lost, m.rows_lost, m.duplicates) == (0, 0, 0)
    assert m.calls == m.requests


def test_a_refusal_skips_that_attempt_with_the_models_words(planner, fault):
    wh, server, plan = planner
    fault.expect("platform", "LLM refusal in the structured-output answer",
                 "that attempt skipped with the refusal as the reason, not asked again; the call and its tokens "
                 "recorded; the slot's next attempt written")
    server.state.answer({"refusal": "I can't help with that request."})
    _, m = plan_and_measure(wh, server, plan)
    with wh.connect() as conn:
        refused = conn.fetchall("select prompt_tokens, completion_tokens, cost_usd from act.llm_calls "
                                "where outcome = 'refused'")
    fault.measure(m.line(), rows_lost=m.rows_lost, double_posts=m.duplicates)
    assert m.llm_reasons() == Counter({"llm: the model refused": 1}) and m.queued > 0 and m.alerts == 0
    assert len(refused) == 1 and refused[0][2] > 0
    assert m.calls == m.requests and (m.rows_lost, m.duplicates) == (0, 0)


@pytest.mark.parametrize("status, outcome", [(400, "skip"), (403, "stop")])
def test_an_error_status_skips_the_attempt_or_stops_the_run(planner, fault, status, outcome):
    wh, server, plan = planner
    fault.expect("platform", f"LLM server answering {status}",
                 "that attempt skipped with the reason, the next asked" if outcome == "skip" else
                 "the key or model refused: not asked again this run, every attempt skipped with the reason, alert")
    server.state.answer({"status": status})
    _, m = plan_and_measure(wh, server, plan)
    fault.measure(m.line(), rows_lost=m.rows_lost, double_posts=m.duplicates)
    assert m.calls == m.requests and (m.rows_lost, m.duplicates) == (0, 0)
    if outcome == "skip":
        assert m.llm_reasons() == Counter({"llm: the server refused the request": 1}) and m.queued > 0
        assert m.alerts == 0
    else:
        assert m.requests == 1 and m.queued == 0 and m.alerts == 1
        assert m.skipped["llm: PermissionDeniedError"] == 1 and sum(m.skipped.values()) == m.candidates


@pytest.mark.parametrize("garbage", GARBAGE, ids=["not JSON", "wrong schema"])
def test_garbage_is_asked_again_then_the_attempt_is_skipped(planner, fault, garbage):
    wh, server, plan = planner
    fault.expect("platform", f"LLM answering garbage ({'not JSON' if garbage[0] != '{' else 'wrong schema'})",
                 "asked again at most XBOT_LLM_INVALID_RETRIES (2) times, then the attempt skipped with the "
                 "validation error; every answer's tokens recorded")
    server.state.answer(*[{"content": garbage}] * 3)
    report, m = plan_and_measure(wh, server, plan)
    [reason] = [c.skip_reason for c in report.candidates if (c.skip_reason or "").startswith("llm: ")]
    fault.measure(f"{m.line()}; the reason: {reason[:150]}", rows_lost=m.rows_lost, double_posts=m.duplicates)
    assert m.llm_reasons() == Counter({"llm: no valid output after 3 attempts": 1}) and m.queued > 0
    assert m.alerts == 0
    assert ("no JSON object" if garbage[0] != "{" else "validation error") in reason
    assert m.calls == m.requests and (m.rows_lost, m.duplicates) == (0, 0)
