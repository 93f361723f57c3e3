"""`xbot accounts`, `xbot queue` and `xbot harvest viral` as a new user types them (DuckDB, the local X server)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from x_server import ACCESS_SECRET, ACCESS_TOKEN, CONSUMER_KEY, CONSUMER_SECRET, FakePost, FakeXServer

from xbot_assets.operator.cli import main
from xbot_assets.runtime.instance import definitions
from xbot_assets.warehouse.connection import Warehouse


@pytest.fixture
def env(duckdb_url, tmp_path, monkeypatch):
    monkeypatch.setenv("XBOT_WAREHOUSE", duckdb_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    definitions.cache_clear()
    wh = Warehouse.from_url(duckdb_url)
    wh.migrate()
    yield wh
    definitions.cache_clear()


def test_accounts_add_list_update_disable(env, capsys):
    assert main(["accounts", "add", "me", "--connector", "x-api", "--handle", "me_x", "--timezone",
                 "Europe/Berlin", "--posts-per-day", "3"]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and "nothing is published until --publish" in out
    assert main(["accounts", "add", "me", "--publish", "--approval"]) == 0  # updates, keeps the rest
    assert main(["accounts", "list", "--json"]) == 0
    capsys.readouterr()
    assert main(["accounts", "list", "--json"]) == 0
    [me] = json.loads(capsys.readouterr().out)
    assert (me["handle"], me["timezone"], me["posts_per_day"], me["publish_enabled"], me["approval_required"],
            me["connector"], me["scenario"]) == ("me_x", "Europe/Berlin", 3, True, True, "x-api", None)
    assert main(["accounts", "disable", "me"]) == 0
    with env.connect() as conn:
        assert conn.scalar("select enabled from act.accounts where account_id = 'me'") is False


@pytest.mark.parametrize("argv, message", [
    (["accounts", "add", "new"], "--connector is required"),
    (["accounts", "add", "x", "--connector", "x-api", "--timezone", "Mars/Base"], "unknown time zone"),
    (["accounts", "add", "x", "--connector", "x-api", "--posts-per-day", "40"], "between 1 and 24"),
    (["accounts", "enable", "ghost"], "no account 'ghost'"),
    (["accounts", "add"], "NAME is required"),
    (["queue", "approve", "nope"], "no decision 'nope'"),
    (["queue", "reject"], "ID is required"),
])
def test_bad_input_is_a_clear_error_and_changes_nothing(env, capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    with env.connect() as conn:
        assert conn.scalar("select count(*) from act.accounts") == 0


def test_plan_queue_approve_reject_from_the_cli(env, capsys):
    assert main(["accounts", "add", "sim", "--connector", "simulator", "--approval"]) == 0
    assert main(["plan", "--account", "sim", "--as-of", "2026-12-02T06:00:00Z"]) == 0
    capsys.readouterr()
    assert main(["queue", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["state"] for r in rows} == {"pending approval"}
    first, second = rows[0]["decision_id"], rows[1]["decision_id"]
    assert main(["queue", "approve", first]) == 0
    assert main(["queue", "reject", second, "--reason", "too salesy"]) == 0
    assert main(["queue", "list"]) == 0
    assert f"[approved] {first}" in capsys.readouterr().out
    assert main(["queue", "list", "--json"]) == 0
    states = {r["decision_id"]: r["state"] for r in json.loads(capsys.readouterr().out)}
    assert states[first] == "approved" and second not in states
    with env.connect() as conn:
        assert conn.fetchone("select status, skip_reason from raw.posts where decision_id = ?", [second]) == (
            "skipped", "rejected by operator: too salesy")


def test_harvest_viral_fills_the_examples_within_the_budget(env, capsys, monkeypatch):
    with FakeXServer() as server:
        for key, value in {"XBOT_X_API_BASE_URL": server.url, "XBOT_X_API_KEY": CONSUMER_KEY,
                           "XBOT_X_API_SECRET": CONSUMER_SECRET, "XBOT_X_ACCESS_TOKEN": ACCESS_TOKEN,
                           "XBOT_X_ACCESS_SECRET": ACCESS_SECRET}.items():
            monkeypatch.setenv(key, value)
        definitions.cache_clear()
        server.state.users["7"] = "sleepdoc"
        for i, likes in enumerate((1500, 40, 800)):
            post = FakePost(f"19000000000000000{i}", f"Deep sleep fact number {i}", "7", datetime(2026, 11, 30, 8))
            post.metrics.update(likes=likes, impressions=likes * 40)
            server.state.others.append(post)
        assert main(["accounts", "add", "me", "--connector", "x-api"]) == 0
        assert main(["harvest", "viral", "--account", "me", "--query", "deep sleep", "--min-likes", "500",
                     "--max-results", "10"]) == 0
        assert main(["harvest", "viral", "--account", "me", "--query", "deep sleep", "--min-likes", "500",
                     "--max-results", "10"]) == 0  # again: nothing new, nothing twice
        monkeypatch.setenv("XBOT_X_MONTHLY_BUDGET_USD", "0.06")
        assert main(["harvest", "viral", "--account", "me", "--query", "deep sleep", "--max-results", "10"]) == 1
    with env.connect() as conn:
        examples = conn.fetchall("select author_handle, likes from raw.viral_examples order by likes desc")
        spent = conn.scalar("select sum(cost_usd) from act.api_calls")
        sent = conn.scalar("select count(*) from act.api_calls")
    assert examples == [("sleepdoc", 1500), ("sleepdoc", 800)]
    assert spent == pytest.approx(0.015)  # three posts read once today; the second read was free
    assert sent == 2  # the third harvest was refused by the budget before it was sent
    assert "monthly budget" in capsys.readouterr().out


def test_accounts_token_stores_the_first_oauth2_pair_owner_only(env, capsys, tmp_path, monkeypatch):
    import os
    import stat

    token_file = tmp_path / "secret" / "brand.json"
    monkeypatch.setenv("XBOT_X_BRAND_OAUTH2_TOKEN_FILE", str(token_file))
    (tmp_path / "consent.json").write_text(json.dumps({"access_token": "a-1", "refresh_token": "r-1",
                                                       "expires_in": 7200, "token_type": "bearer"}))
    assert main(["accounts", "add", "brand", "--connector", "x-api", "--credentials-prefix", "XBOT_X_BRAND_"]) == 0
    assert main(["accounts", "token", "brand", "--file", str(tmp_path / "consent.json")]) == 0
    out = capsys.readouterr().out
    assert "r-1" not in out and "a-1" not in out and "set XBOT_X_BRAND_OAUTH2_CLIENT_ID" in out
    assert json.loads(token_file.read_text())["refresh_token"] == "r-1"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    (tmp_path / "half.json").write_text(json.dumps({"access_token": "a-2"}))
    assert main(["accounts", "token", "brand", "--file", str(tmp_path / "half.json")]) == 2
    assert json.loads(token_file.read_text())["refresh_token"] == "r-1"  # a bad file changes nothing


def test_one_accounts_missing_credentials_do_not_stop_the_others(env, capsys, monkeypatch):
    for name in ("XBOT_X_API_KEY", "XBOT_X_API_SECRET", "XBOT_X_ACCESS_TOKEN", "XBOT_X_ACCESS_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XBOT_X_BRAND_API_KEY", "only-one-of-four")
    definitions.cache_clear()
    assert main(["accounts", "add", "sim", "--connector", "simulator", "--publish"]) == 0
    assert main(["accounts", "add", "brand", "--connector", "x-api", "--publish", "--credentials-prefix",
                 "XBOT_X_BRAND_"]) == 0
    assert main(["plan", "--as-of", "2026-12-02T06:00:00Z"]) == 0
    with env.connect() as conn:
        first = conn.scalar("select min(scheduled_at) from raw.posts where status = 'queued' and account_id = 'sim'")
    at = first.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert main(["publish", "--as-of", at]) == 1  # the run fails, naming the account
    out = capsys.readouterr().out
    assert "brand: X API credentials missing from the environment: XBOT_X_BRAND_API_SECRET, " \
           "XBOT_X_BRAND_ACCESS_TOKEN, XBOT_X_BRAND_ACCESS_SECRET" in out and "only-one-of-four" not in out
    with env.connect() as conn:
        by_account = dict(conn.fetchall("select account_id, count(*) from raw.posts where status = 'posted' "
                                        "group by 1"))
    assert by_account.get("sim", 0) >= 1 and "brand" not in by_account  # the simulator account still published


PROFILE = """
niche: sleep and circadian health for shift workers
topics: [{name: morning light, weight: 3}, {name: caffeine timing, weight: 1}, naps]
audience: nurses on rotating shifts
tone_rules: [plain words, no fear-mongering]
banned_words: [miracle, cure]
banned_claims: [melatonin is harmless at any dose]
links_allowed: true
thread: {min_parts: 2, max_parts: 4}
"""


def test_accounts_profile_is_validated_stored_and_listed(env, capsys, tmp_path):
    (tmp_path / "profile.yaml").write_text(PROFILE)
    assert main(["accounts", "add", "me", "--connector", "x-api"]) == 0
    assert main(["accounts", "profile", "me", "--file", str(tmp_path / "profile.yaml")]) == 0
    out = capsys.readouterr().out
    assert "morning light 60%" in out and "naps 20%" in out and "links allowed" in out
    assert main(["accounts", "list", "--json"]) == 0
    [me] = json.loads(capsys.readouterr().out)
    assert me["allow_urls"] is True and me["profile"]["banned_words"] == ["miracle", "cure"]
    assert me["profile"]["thread"] == {"min_parts": 2, "max_parts": 4}
    assert main(["accounts", "list"]) == 0
    assert "profile: sleep and circadian health" in capsys.readouterr().out


@pytest.mark.parametrize("text, message", [
    ("niche: x\n", "niche: String should have at least 3 characters"),
    ("niche: sleep\ntopics: []\n", "topics: List should have at least 1 item"),
    ("niche: sleep\ntopics: [naps]\ncolour: blue\n", "colour: Extra inputs are not permitted"),
    ("niche: sleep\ntopics: [naps, Naps]\n", "topics must have different names"),
    ("niche: sleep\ntopics: [naps]\nthread: {min_parts: 5, max_parts: 3}\n", "min_parts 5 > thread.max_parts 3"),
    ("- just\n- a list\n", "a profile is a mapping"),
    ("niche: [unclosed\n", "is not YAML"),
])
def test_a_bad_profile_is_a_clear_error_and_stores_nothing(env, capsys, tmp_path, text, message):
    (tmp_path / "bad.yaml").write_text(text)
    assert main(["accounts", "add", "me", "--connector", "x-api"]) == 0
    assert main(["accounts", "profile", "me", "--file", str(tmp_path / "bad.yaml")]) == 2
    assert message in capsys.readouterr().err
    with env.connect() as conn:
        assert conn.scalar("select count(*) from act.account_profiles") == 0
