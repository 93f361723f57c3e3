"""`xbot load x-analytics`: X's own exports, written here in the formats X uses (quoted dates with commas, floats
and "-" in the classic file, spreadsheet-mangled ids, thousands separators, HTML entities, columns in any order and
case), read into the warehouse; and the generic loader's refusals and quarantines."""

from __future__ import annotations

import csv
import os
import re
from datetime import UTC, datetime, timedelta

import pytest

from xbot_assets.ingest.parse import snowflake_id, snowflake_time
from xbot_assets.ingest.x_exports import infer_content_type
from xbot_assets.operator.cli import main
from xbot_assets.runtime.instance import definitions
from xbot_assets.warehouse.connection import Warehouse

CONTENT_HEADER = ["Post id", "Date", "Post text", "Post Link", "Impressions", "Likes", "Engagements", "Bookmarks",
                  "Shares", "New follows", "Replies", "Reposts", "Profile visits", "Detail Expands", "URL Clicks",
                  "Hashtag Clicks", "Permalink Clicks"]
CLASSIC_HEADER = ["Tweet id", "Tweet permalink", "Tweet text", "time", "impressions", "engagements", "engagement rate",
                  "retweets", "replies", "favorites", "user profile clicks", "url clicks", "hashtag clicks",
                  "detail expands", "permalink clicks", "app opens", "app installs", "follows", "email tweet",
                  "dial phone", "media views", "media engagements", "promoted impressions", "promoted follows"]


def snowflake(at: datetime, sequence: int = 0) -> int:
    return int(snowflake_id(at, sequence))


def write_csv(path, header, rows, quote_all=False) -> str:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def content_row(tweet_id, at: datetime, text, impressions="2,400", likes=90, reposts=12, replies=6, follows=5,
                link=None, shown_id=None) -> list:
    values = {"Post id": shown_id or str(tweet_id), "Date": at.strftime("%a, %b %-d, %Y"), "Post text": text,
              "Post Link": f"https://x.com/me/status/{tweet_id}" if link is None else link, "Impressions": impressions, "Likes": likes,
              "Engagements": 300, "Bookmarks": 3, "Shares": 0, "New follows": follows, "Replies": replies,
              "Reposts": reposts, "Profile visits": 30, "Detail Expands": 10, "URL Clicks": 0, "Hashtag Clicks": 0,
              "Permalink Clicks": 0}
    return [values[h] for h in CONTENT_HEADER]


@pytest.fixture
def env(warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setenv("XBOT_WAREHOUSE", warehouse_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    definitions.cache_clear()
    wh = Warehouse.from_url(warehouse_url)
    wh.migrate()
    yield wh, tmp_path
    definitions.cache_clear()


def posts(wh) -> list[dict]:
    with wh.connect() as conn:
        return conn.fetch_df("select decision_id, tweet_id, status, content, content_type, content_type_source, "
                             "generator_name, posted_at from raw.posts order by posted_at").to_dict("records")


def snapshots(wh) -> list[tuple]:
    with wh.connect() as conn:
        return conn.fetchall("select decision_id, collected_at, impressions, likes, retweets, replies, follows, "
                             "profile_clicks from raw.metric_snapshots order by decision_id, collected_at")


def quarantined(wh) -> list[str]:
    with wh.connect() as conn:
        return [r for (r,) in conn.fetchall("select reason from raw.quarantine order by reason")]


def test_the_current_per_post_export_with_its_quirks(env, capsys):
    wh, tmp = env
    first, second, third = datetime(2026, 7, 14, 9, 30, 5), datetime(2026, 7, 15, 18, 2), datetime(2026, 7, 16, 7)
    ids = [snowflake(first), snowflake(second, 1), snowflake(third, 2)]
    name = tmp / "account_analytics_content_2026-07-01_2026-07-20.csv"
    write_csv(name, CONTENT_HEADER, [
        content_row(ids[0], first, "Sleep &amp; light: 10 minutes outside before 9 am. Myth: coffee fixes it."),
        content_row(ids[1], second, "🧵 1/ How caffeine timing works", impressions="12,000", likes="1,234",
                    shown_id="2.07692E+18"),  # Excel's rounding; the link still has the id
        content_row(ids[2], third, "Tip: walk after lunch.", shown_id="2.07692E+18", link=""),  # lost: no link
    ])
    assert main(["load", "x-analytics", str(name), "--account", "me"]) == 0
    out = capsys.readouterr().out
    assert "content export" in out and "collected at 2026-07-21 00:00 UTC" in out and "raw.quarantine" in out
    rows = posts(wh)
    assert [r["tweet_id"] for r in rows] == [str(ids[0]), str(ids[1])]
    assert rows[0]["content"].startswith("Sleep & light") and rows[0]["posted_at"] == first.replace(second=5)
    assert rows[1]["posted_at"] == second  # the time comes from the id: the file gives a date only
    assert [r["content_type"] for r in rows] == ["myth_busting", "educational_thread"]
    assert {(r["status"], r["generator_name"], r["content_type_source"]) for r in rows} == {
        ("posted", "imported", "inferred")}
    collected = datetime(2026, 7, 21)
    assert snapshots(wh) == sorted([(f"tweet-{ids[0]}", collected, 2400, 90, 12, 6, 5, 30),
                                    (f"tweet-{ids[1]}", collected, 12000, 1234, 12, 6, 5, 30)])
    assert any(r.startswith("mangled id") for r in quarantined(wh))

    # The same file again: nothing new. A later export: the counters move forward as a new snapshot.
    assert main(["load", "x-analytics", str(name), "--account", "me"]) == 0
    assert len(posts(wh)) == 2 and len(snapshots(wh)) == 2
    later = tmp / "account_analytics_content_2026-07-01_2026-07-27.csv"
    write_csv(later, CONTENT_HEADER, [content_row(ids[0], first, "Sleep &amp; light: 10 minutes outside before "
                                                  "9 am. Myth: coffee fixes it.", impressions="3,100", likes=95)])
    assert main(["load", "x-analytics", str(later), "--account", "me"]) == 0
    assert [s[1:4] for s in snapshots(wh) if s[0] == f"tweet-{ids[0]}"] == [(collected, 2400, 90),
                                                                          (datetime(2026, 7, 28), 3100, 95)]
    assert len(posts(wh)) == 2


def test_columns_are_matched_by_name_in_any_order_and_case(env):
    wh, tmp = env
    at = datetime(2026, 3, 2, 14, 0)
    header = ["LIKES", "post  text", "Replies", "new_follows", "Reposts", "Date", "POST ID", "Impressions", "Extra"]
    row = [7, "Numbers on walking: 7,000 steps.", 1, 2, 3, at.strftime("%a, %b %-d, %Y"), str(snowflake(at)), 500, "x"]
    name = write_csv(tmp / "export.csv", header, [row])
    assert main(["load", "x-analytics", name, "--collected-at", "2026-03-10T00:00:00Z"]) == 0
    (post,) = posts(wh)
    assert post["posted_at"] == at and post["content_type"] == "factual_single"
    assert snapshots(wh) == [(post["decision_id"], datetime(2026, 3, 10), 500, 7, 3, 1, 2, None)]


def test_the_classic_export_with_floats_dashes_and_favorites(env):
    wh, tmp = env
    at = datetime(2022, 1, 30, 12, 15)
    tid = "1487761305826205706"
    values = {"Tweet id": tid, "Tweet permalink": f"https://twitter.com/me/status/{tid}",
              "Tweet text": "You have heard that naps are lazy. Actually, 20 minutes helps.",
              "time": "2022-01-30 12:15 +0000", "impressions": "106.0", "engagements": "4.0",
              "engagement rate": "0.03773584905660377", "retweets": "1.0", "replies": "0.0", "favorites": "3.0",
              "user profile clicks": "2.0", "url clicks": "0.0", "follows": "-", "promoted impressions": "-",
              "promoted follows": "-"}
    name = write_csv(tmp / "tweet_activity_metrics_me_20220101_20220201_en.csv", CLASSIC_HEADER,
                     [[values.get(h, "0.0") for h in CLASSIC_HEADER]], quote_all=True)
    assert main(["load", "x-analytics", name]) == 0
    (post,) = posts(wh)
    assert post["posted_at"] == at and post["content_type"] == "myth_busting" and post["tweet_id"] == tid
    assert snapshots(wh) == [(f"tweet-{tid}", datetime(2022, 2, 2), 106, 3, 1, 0, None, 2)]


def test_a_post_xbot_published_keeps_its_decision_and_gains_the_snapshot(env):
    wh, tmp = env
    at = datetime(2026, 7, 14, 9, 0)
    tid = str(snowflake(at))
    own = tmp / "own.csv"
    write_csv(own, ["decision_id", "tweet_id", "posted_at", "content", "generator_name", "content_type",
                    "account_id"], [["me-20260714-01", tid, at.isoformat(), "Mine.", "dataNerd", "factual_single",
                                     "me"]])
    assert main(["load", "posts", str(own)]) == 0
    name = write_csv(tmp / "account_analytics_content_2026-07-01_2026-07-20.csv", CONTENT_HEADER,
                     [content_row(tid, at, "Mine.")])
    assert main(["load", "x-analytics", name, "--account", "me"]) == 0
    (post,) = posts(wh)
    assert (post["decision_id"], post["generator_name"]) == ("me-20260714-01", "dataNerd")
    assert [s[0] for s in snapshots(wh)] == ["me-20260714-01"]


def test_the_overview_export_becomes_a_follower_history(env):
    wh, tmp = env
    header = ["Date", "Impressions", "Engagements", "Likes", "Replies", "Reposts", "New follows", "Unfollows"]
    days = [("Fri, Apr 26, 2024", 10, 2), ("Sat, Apr 27, 2024", 5, 1), ("Sun, Apr 28, 2024", 0, 3)]
    name = write_csv(tmp / "account_overview_analytics.csv", header,
                     [[d, 100, 5, 4, 1, 0, n, u] for d, n, u in days])
    assert main(["load", "x-analytics", name, "--account", "me"]) == 2  # no count to anchor the gains on
    assert main(["load", "x-analytics", name, "--account", "me", "--followers-now", "1000"]) == 0
    with wh.connect() as conn:
        history = conn.fetchall("select collected_at, followers from raw.follower_snapshots order by 1")
    assert history == [(datetime(2024, 4, 27), 999), (datetime(2024, 4, 28), 1003), (datetime(2024, 4, 29), 1000)]
    assert main(["load", "x-analytics", name, "--account", "me", "--followers-now", "1000"]) == 0
    with wh.connect() as conn:
        assert conn.scalar("select count(*) from raw.follower_snapshots") == 3


def test_a_file_that_is_no_export_is_refused_whole(env, capsys):
    wh, tmp = env
    name = write_csv(tmp / "notes.csv", ["when", "what"], [["today", "posted"]])
    assert main(["load", "x-analytics", name]) == 2
    err = capsys.readouterr().err
    assert "not an X analytics export" in err and "post_id, date, post_text" in err and "nothing loaded" in err
    assert main(["load", "posts", name]) == 2
    assert "none of the columns of posts" in capsys.readouterr().err
    assert posts(wh) == [] and quarantined(wh) == []


def test_the_generic_loader_quarantines_rows_without_a_date_and_ambiguous_dates(env, capsys):
    wh, tmp = env
    name = write_csv(tmp / "mine.csv", ["tweet_id", "posted_at", "content"],
                     [["1", "", "no date"], ["2", "03/11/2025", "ambiguous"], ["3", "25/11/2025", "day first"]])
    assert main(["load", "posts", name]) == 0
    out = capsys.readouterr().out
    assert "select target_table, reason, payload from raw.quarantine where source_name = 'mine.csv'" in out
    assert [r["tweet_id"] for r in posts(wh)] == ["3"]
    reasons = quarantined(wh)
    assert any(r.startswith("no date") for r in reasons) and any(r.startswith("ambiguous date") for r in reasons)
    assert main(["load", "posts", name, "--date-format", "%d/%m/%Y"]) == 0
    assert {r["tweet_id"]: r["posted_at"] for r in posts(wh)} == {"2": datetime(2025, 11, 3),
                                                                  "3": datetime(2025, 11, 25)}


def test_ids_carry_their_time_and_texts_their_type():
    at = datetime(2026, 7, 14, 9, 30, 5, 123000)
    assert snowflake_time(snowflake(at, 7)) == at
    assert snowflake_time(1487761305826205706) - datetime(2022, 1, 30, 12, 15) < timedelta(minutes=1)
    assert infer_content_type("Sleep 7 hours: 5 minutes of light.") == "factual_single"
    assert infer_content_type("Tip: walk after lunch") == "wellness_tip"
    assert infer_content_type("Myth: you need 8 glasses.") == "myth_busting"
    assert infer_content_type("Here is a thread on sleep") == "educational_thread"


IDENTITY = re.compile(r"(\d+) input rows = (\d+) loaded \+ (\d+) updated \+ (\d+) unchanged \+ (\d+) quarantined")


def all_rows(wh) -> dict[str, list[tuple]]:
    with wh.connect() as conn:
        return {t: sorted(tuple(map(str, r)) for r in conn.fetchall(f"select * from raw.{t}"))
                for t in ("posts", "metric_snapshots", "follower_snapshots", "quarantine")}


def test_every_export_row_is_accounted_for_and_a_reload_changes_nothing(env, capsys):
    wh, tmp = env
    a, b, c = datetime(2026, 7, 14, 9), datetime(2026, 7, 15, 9), datetime(2026, 7, 16, 9)
    ids = [snowflake(a), snowflake(b, 1), snowflake(c, 2)]
    rows = [content_row(ids[0], a, "Light before coffee."),
            content_row(ids[1], b, "Walk after lunch."),
            content_row(ids[2], c, "Lost id.", shown_id="2.07692E+18", link=""),  # mangled id
            content_row(ids[2], c, "Too many likes.", likes="9223372036854775808"),  # beyond 64 bits
            content_row(ids[2], c, "A NUL\x00 byte."),
            content_row(ids[0], a, "Light before coffee.", likes=95),  # the same post, other counters
            content_row(ids[2], c, "More likes than views.", impressions=10, likes=900),  # post ok, snapshot not
            content_row(ids[1], b, "Walk after lunch.")]  # an exact repeat
    # An export through a day still in the future: its counters are as of the download (the file's time).
    name = write_csv(tmp / "account_analytics_content_2026-07-01_2099-12-31.csv", CONTENT_HEADER, rows)
    downloaded = datetime(2026, 7, 25, 12, 0)
    os.utime(name, (downloaded.replace(tzinfo=UTC).timestamp(),) * 2)
    assert main(["load", "x-analytics", name, "--account", "me"]) == 0
    out = capsys.readouterr().out
    assert "collected at 2026-07-25 12:00 UTC" in out
    # A row is quarantined when it, its post or its snapshot is: the post of "More likes than views." is written,
    # its snapshot is not (engagement above impressions).
    assert [m.groups() for m in IDENTITY.finditer(out)][0] == ("8", "2", "0", "1", "5")
    held = quarantined(wh)
    assert len(held) == 5 and {r.split(":")[0] for r in held} == {
        "mangled id", "out of range", "NUL byte in Post text", "duplicate", "engagement exceeds impressions"}
    before = all_rows(wh)
    assert main(["load", "x-analytics", name, "--account", "me"]) == 0
    out = capsys.readouterr().out
    assert [m.groups() for m in IDENTITY.finditer(out)][0] == ("8", "0", "0", "3", "5")
    assert all_rows(wh) == before

    header = ["Date", "New follows", "Unfollows"]
    days = [["Fri, Apr 26, 2024", 10, 2], ["Sat, Apr 27, 2024", 5, 1], ["Sat, Apr 27, 2024", 6, 1],
            ["someday", 1, 1], ["Sun, Apr 28, 2024", 0, 3]]
    overview = write_csv(tmp / "account_overview_analytics.csv", header, days)
    for expected in (("5", "3", "0", "0", "2"), ("5", "0", "0", "3", "2")):
        assert main(["load", "x-analytics", overview, "--account", "me", "--followers-now", "1000"]) == 0
        assert [m.groups() for m in IDENTITY.finditer(capsys.readouterr().out)][0] == expected
    assert len(quarantined(wh)) == 5 + 2
