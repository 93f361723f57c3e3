"""The labeller of learn/formulas (XBOT_LABELLER=llm): the real openai SDK against the local OpenAI-compatible server
(tests/openai_server.py), the formulas asset materialized by Dagster on a warehouse built by dbt from a hand-made
history (test_topic_hook_learning's 48 posts of `acct`, plus 5 myth/fact posts of account `b`). Every number is
measured from the warehouse, the asset's metadata and the server's request log."""

from __future__ import annotations

import json
import re
import socket
from datetime import timedelta

import dagster as dg
import pytest
from openai_server import FakeOpenAIServer
from services import materialize_for_accounts
from test_topic_hook_learning import NOW, START, history

from xbot_assets.acting.generators.llm_labels import PROMPT_VERSION, LabelsOutput, labels_schema
from xbot_assets.defs.ingest import raw_tables
from xbot_assets.defs.learn_strategy import formulas
from xbot_assets.defs.resources import ClockResource, RedisResource, WarehouseResource
from xbot_assets.defs.transform import xbot_dbt_assets
from xbot_assets.ingest.load import write_posts
from xbot_assets.ingest.metrics import write_metric_snapshots
from xbot_assets.learning.formulas import STRUCTURE_PARTS
from xbot_assets.warehouse.connection import Warehouse

MYTH = "Myth: naps ruin your night sleep. Fact: 20 minutes before a shift keeps you sharp."
POSTS = 48 + 5


def b_history() -> tuple[list[dict], list[dict]]:
    posts, snapshots = [], []
    for i in range(5):
        posted_at = START + timedelta(days=i, hours=10)
        posts.append({"decision_id": f"b-{i}", "account_id": "b", "status": "posted", "decision_type": "single",
                      "content": MYTH, "content_type": "factual_single", "generator_name": "mythBuster",
                      "topic": "naps", "hook": "myth/fact", "quality_score": 0.8, "posted_at": posted_at,
                      "tweet_id": f"8{i:05d}", "source": "simulated"})
        snapshots.append({"decision_id": f"b-{i}", "account_id": "b", "collected_at": posted_at + timedelta(hours=25),
                          "impressions": 2000, "likes": 80, "retweets": 0, "replies": 0, "follows": 1,
                          "source": "simulated"})
    return posts, snapshots


def build(url: str) -> Warehouse:
    wh = Warehouse.from_url(url)
    wh.migrate()
    (posts, snapshots), (b_posts, b_snapshots) = history(), b_history()
    with wh.connect() as conn:
        write_posts(conn, posts + b_posts, now=NOW)
        write_metric_snapshots(conn, snapshots + b_snapshots, now=NOW)
    result = dg.materialize([raw_tables, xbot_dbt_assets], resources=resources(url),
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    return wh


def resources(url: str) -> dict:
    return {"warehouse": WarehouseResource(url=url), "clock": ClockResource(simulated_now=NOW.isoformat()),
            "redis": RedisResource(url=None)}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[str, Warehouse]:
    url = str(tmp_path_factory.mktemp("labels") / "warehouse.duckdb")
    return url, build(url)


@pytest.fixture
def fresh(built) -> tuple[str, Warehouse]:
    """The built warehouse without any label, call, alert or formula of an earlier test."""
    url, wh = built
    with wh.connect() as conn:
        for table in ("act.post_labels", "act.llm_calls", "act.alerts", "learn.formulas"):
            conn.execute(f"delete from {table}")
    return url, wh


@pytest.fixture
def server(monkeypatch):
    with FakeOpenAIServer() as fake:
        for key, value in {"XBOT_LABELLER": "llm", "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "test-key",
                           "XBOT_LLM_MODEL": "test-model", "XBOT_LLM_MAX_RETRIES": "0",
                           "XBOT_LLM_TIMEOUT_SECONDS": "5"}.items():
            monkeypatch.setenv(key, value)
        fake.state.label = model_reading
        yield fake


def model_reading(text: str) -> tuple[str, list[str]]:
    """The scripted model: it reads the list posts as how-to with a number, the stories as ending on a call to
    action (the rules read "[numbered list] + [specific number]" and "[personal story]")."""
    if text.startswith("Why"):
        return "question", ["[question]"]
    if text.startswith("3 mistakes"):
        return "how-to", ["[how-to steps]", "[specific number]"]
    if text.startswith("Myth"):
        return "myth/fact", ["[myth] + [fact]", "[specific number]"]
    return "story", ["[personal story]", "[call to action]"]


def run_formulas(url: str) -> dict:
    """Materialize learn/formulas alone (its upstream marts are built); the metadata, as plain values."""
    result = materialize_for_accounts([formulas], url, resources=resources(url))
    assert result.success
    event = result.get_asset_materialization_events()[0]  # one per account partition, the same metadata
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def asked(server) -> list[int]:
    """How many posts each request asked about."""
    return [len(re.findall(r'<post index="', r["messages"][1]["content"])) for r in server.state.requests]


def overall(wh, account_id: str = "acct") -> dict[str, str]:
    with wh.connect() as conn:
        return dict(conn.fetchall("select structure, hook from learn.formulas where account_id = ? and "
                                  "generator_name = '*'", [account_id]))


def test_labels_must_answer_every_post_once_in_the_vocabulary():
    ok = {"labels": [{"index": 1, "hook": "list", "structure": ["[numbered list]", "[evidence]"]},
                     {"index": 0, "hook": "myth/fact", "structure": ["[myth] + [fact]"]}]}
    assert len(LabelsOutput.model_validate_json(json.dumps(ok), context={"n": 2}).labels) == 2
    bad = [({"labels": ok["labels"][:1]}, "exactly once"),
           ({"labels": [ok["labels"][0]] * 2}, "exactly once"),
           ({"labels": [{"index": 0, "hook": "rant", "structure": ["[question]"]}]}, "hook"),
           ({"labels": [{"index": 0, "hook": "list", "structure": ["[question]"]}]}, "opens with"),
           ({"labels": [{"index": 0, "hook": "list", "structure": ["[numbered list]", "[vibes]"]}]}, "vocabulary"),
           ({"labels": [{"index": 0, "hook": "list", "structure": ["[numbered list]", "[evidence]", "[evidence]"]}]},
            "at most once")]
    for output, problem in bad:
        with pytest.raises(ValueError, match=problem):
            LabelsOutput.model_validate_json(json.dumps(output), context={"n": len(output["labels"]) or 1})
    schema = labels_schema()["properties"]["labels"]["items"]["properties"]
    assert schema["structure"]["items"]["enum"] == list(STRUCTURE_PARTS)
    assert "surprising number" in schema["hook"]["enum"]


def test_the_model_labels_the_gated_posts_in_batches_and_the_labels_are_stored(fresh, server):
    url, wh = fresh
    metadata = run_formulas(url)
    assert sorted(asked(server)) == [5, 8, 20, 20]  # per account, batches of at most 20
    assert all(r["response_format"]["json_schema"]["name"] == "post_labels" for r in server.state.requests)
    assert all(r["temperature"] == 0.0 for r in server.state.requests)
    with wh.connect() as conn:
        labels = conn.fetch_df("select * from act.post_labels")
        calls = conn.fetchall("select generator_name, prompt_version, outcome from act.llm_calls")
        hooks = dict(conn.fetchall("select hook, count(*) from raw.posts where account_id = 'acct' group by hook"))
    assert len(labels) == POSTS and set(labels["source"]) == {"model"} and set(labels["model"]) == {"test-model"}
    assert set(labels["prompt_version"]) == {PROMPT_VERSION} and PROMPT_VERSION.startswith("labeller@")
    by_id = labels.set_index("decision_id")
    assert tuple(by_id.loc["acct-001", ["hook", "structure"]]) == ("how-to", "[how-to steps] + [specific number]")
    assert by_id.loc["b-0", "structure"] == "[myth] + [fact] + [specific number]"
    assert calls == [("labeller", PROMPT_VERSION, "answered")] * 4
    assert hooks == {"question": 16, "list": 16, "story": 16}  # the decisions' hooks are not touched
    assert metadata["labeller"] == "llm" and metadata["labels: by the model this run"] == POSTS
    assert metadata["labels: by rules this run"] == 0 and metadata["labels: model's, read this run"] == POSTS
    assert "labels: model not used" not in metadata


def test_the_formulas_follow_the_models_structure_and_hook_and_the_rules_for_the_rest(fresh, server, monkeypatch):
    url, wh = fresh
    monkeypatch.setenv("XBOT_LABELLER", "rules")
    rules = run_formulas(url)
    assert not server.state.requests and rules["labels: by rules this run"] == POSTS
    assert overall(wh) == {"[question]": "question", "[numbered list] + [specific number]": "list",
                           "[personal story]": "story"}
    monkeypatch.setenv("XBOT_LABELLER", "llm")
    monkeypatch.setenv("XBOT_LABELLER_MAX_POSTS", "24")  # acct's 24 newest posts (8 stories) and all of b's
    metadata = run_formulas(url)
    assert sorted(asked(server)) == [4, 5, 20]
    assert metadata["labels: by the model this run"] == 24 + 5 and metadata["labels: by rules this run"] == 24
    model = overall(wh)
    assert model["[how-to steps] + [specific number]"] == "how-to"  # the model's hook names the formula
    assert model["[personal story] + [call to action]"] == "story"
    assert model["[numbered list] + [specific number]"] == "list" and model["[personal story]"] == "story"  # older
    with wh.connect() as conn:
        names = {r[0] for r in conn.fetchall("select name from learn.formulas where account_id = 'acct'")}
        assert conn.scalar("select count(*) from raw.posts where hook = 'how-to'") == 0
    assert "Short How-to + Specific Number" in names and "Short Story + Call To Action" in names


def test_invalid_labels_are_asked_again_then_the_batch_is_read_by_the_rules_with_the_reason(fresh, server,
                                                                                            monkeypatch):
    url, wh = fresh
    monkeypatch.setenv("XBOT_LLM_INVALID_RETRIES", "1")
    monkeypatch.setenv("XBOT_LABELLER_MAX_POSTS", "3")
    wrong_index = json.dumps({"labels": [{"index": i, "hook": "question", "structure": ["[question]"]}
                                         for i in (0, 1, 1)]})
    server.state.answer({"content": "Sure! Here are the labels."}, {"content": wrong_index})
    metadata = run_formulas(url)
    # acct: asked, re-asked with the problem, then left to the rules; b (next account) is labelled.
    assert asked(server) == [3, 3, 3]
    assert "not valid" in server.state.requests[1]["messages"][-1]["content"]
    assert metadata["labels: by the model this run"] == 3 and metadata["labels: by rules this run"] == 48 + 2
    reason = metadata["labels: model not used"]
    assert "acct: llm: no valid labels after 2 attempts" in reason and "exactly once" in reason
    with wh.connect() as conn:
        assert conn.scalar("select count(*) from act.post_labels where account_id = 'acct'") == 0
        assert conn.scalar("select count(*) from act.llm_calls") == 3
    assert overall(wh)["[personal story]"] == "story"  # the rules' structures
    server.state.requests.clear()
    run_formulas(url)  # a later run asks about the batch again
    assert asked(server) == [3, 2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_that_is_down_leaves_every_post_to_the_rules_with_one_alert(fresh, server, monkeypatch):
    url, wh = fresh
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    metadata = run_formulas(url)
    assert metadata["labels: by the model this run"] == 0 and metadata["labels: by rules this run"] == POSTS
    assert "acct: llm: APIConnectionError" in metadata["labels: model not used"]
    assert "b: llm: not asked, the model's server failed earlier in this run" in metadata["labels: model not used"]
    with wh.connect() as conn:
        assert conn.fetchall("select outcome from act.llm_calls") == [("error",)]  # b was not asked
        [(alert_id, job, error)] = conn.fetchall("select alert_id, job_name, error from act.alerts")
    assert alert_id == f"labeller_unavailable:acct:{NOW:%Y-%m-%dT%H}" and job == "__ephemeral_asset_job__"
    assert "labelling for learn/formulas for acct stopped asking the language model" in error
    assert set(overall(wh)) == {"[question]", "[numbered list] + [specific number]", "[personal story]"}


def test_the_daily_budget_is_respected(fresh, server, monkeypatch):
    url, wh = fresh
    monkeypatch.setenv("XBOT_LLM_DAILY_BUDGET_USD", "0.01")
    with wh.connect() as conn:  # acct already spent most of today's budget writing posts
        conn.execute("insert into act.llm_calls values ('c1', 'acct', 'test-model', 'coach', 'coach@x', ?, 1, "
                     "'json_schema', 1000, 1000, 0.0095, 'answered', null)", [NOW])
    metadata = run_formulas(url)
    assert asked(server) == [5]  # only b, whose spend is its own
    assert metadata["labels: by the model this run"] == 5 and metadata["labels: by rules this run"] == 48
    [reason] = metadata["labels: model not used"].splitlines()  # stopped after the first refusal
    assert reason.startswith("- acct: llm daily budget: $0.0095 of $0.01 spent today") and "not labelled" in reason


def test_a_rerun_asks_only_about_posts_not_labelled_yet(fresh, server, monkeypatch):
    url, wh = fresh
    monkeypatch.setenv("XBOT_LABELLER_MAX_POSTS", "30")
    assert run_formulas(url)["labels: by the model this run"] == 30 + 5
    assert sorted(asked(server)) == [5, 10, 20]
    server.state.requests.clear()
    assert run_formulas(url)["labels: by the model this run"] == 18
    assert asked(server) == [18]
    server.state.requests.clear()
    metadata = run_formulas(url)
    assert not server.state.requests and metadata["labels: by the model this run"] == 0
    assert metadata["labels: model's, read this run"] == POSTS and metadata["labels: by rules this run"] == 0
    with wh.connect() as conn:
        assert conn.scalar("select count(distinct decision_id) from act.post_labels") == POSTS


def test_no_api_key_reaches_the_warehouse_or_the_metadata(fresh, server, monkeypatch):
    url, wh = fresh
    secret = "sk-proj-wrongKey123456"
    monkeypatch.setenv("OPENAI_API_KEY", secret)  # a wrong key: the 401 quotes it back
    first = run_formulas(url)
    assert "AuthenticationError" in first["labels: model not used"]
    monkeypatch.delenv("OPENAI_API_KEY")  # no key at all: the rules and the reason, the asset succeeds
    second = run_formulas(url)
    assert "the client could not be made" in second["labels: model not used"]
    assert second["labels: by rules this run"] == POSTS
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    third = run_formulas(url)
    assert third["labels: by the model this run"] == POSTS
    with wh.connect() as conn:
        stored = str([conn.fetchall(f"select * from {t}") for t in ("act.llm_calls", "act.alerts", "act.post_labels")])
        # Both failures alert under the same id (account and hour, as the generator's do): the first is kept.
        [(error,)] = conn.fetchall("select error from act.alerts")
        assert "AuthenticationError" in error
        assert conn.fetchall("select outcome, count(*) from act.llm_calls group by 1 order by 1") == [
            ("answered", 4), ("error", 1)]  # one 401, not asked again in that run; none without a key
    for key in (secret, "wrongKey", "test-key"):
        assert key not in stored and key not in str([first, second, third])
    assert "Incorrect API key provided: [redacted]" in stored


@pytest.fixture(scope="module")
def built_pg():
    from services import throwaway_database

    with throwaway_database() as url:
        yield url, build(url)


def test_labels_are_stored_and_read_on_postgresql(built_pg, server, monkeypatch):
    url, wh = built_pg
    monkeypatch.setenv("XBOT_LABELLER_MAX_POSTS", "24")
    first = run_formulas(url)
    assert first["labels: by the model this run"] == 29 and first["labels: by rules this run"] == 24
    model = overall(wh)
    assert model["[personal story] + [call to action]"] == "story" and model["[personal story]"] == "story"
    assert overall(wh, "b") == {"[myth] + [fact] + [specific number]": "myth/fact"}
    server.state.requests.clear()
    monkeypatch.setenv("XBOT_LABELLER_MAX_POSTS", "200")
    assert run_formulas(url)["labels: by the model this run"] == 24 and asked(server) == [20, 4]
    with wh.connect() as conn:
        rows = conn.fetchall("select source, model, prompt_version, labelled_at, count(*) from act.post_labels "
                             "group by 1, 2, 3, 4")
    assert rows == [("model", "test-model", PROMPT_VERSION, NOW, POSTS)]
    assert "[personal story]" not in overall(wh)
