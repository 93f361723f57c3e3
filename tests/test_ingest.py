"""Loading a user's history: counts as people write them, and every impossible row quarantined with its reason."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from xbot_assets.ingest.load import WRITERS, read_csv_rows
from xbot_assets.ingest.parse import BadValue, parse_count, parse_timestamp, parse_unit_score
from xbot_assets.warehouse.connection import Warehouse

NOW = datetime(2026, 1, 10)


@pytest.mark.parametrize(
    "text, expected",
    [("1,234", 1234), ("1.2K", 1200), ("1.25k", 1250), ("3M", 3_000_000), ("0", 0), ("  42 ", 42), ("", None),
     ("7.0", 7), (12, 12)],
)
def test_counts_as_people_write_them(text, expected):
    assert parse_count(text, "likes") == expected


@pytest.mark.parametrize("text, reason", [("-3", "negative count"), ("abc", "not a count"), ("1.5", "not a whole count"),
                                          ("1.2X", "not a count")])
def test_impossible_counts_say_why(text, reason):
    with pytest.raises(BadValue, match=reason):
        parse_count(text, "likes")


def test_timestamps_are_naive_utc():
    assert parse_timestamp("2026-01-01T10:00:00+02:00", "t") == datetime(2026, 1, 1, 8)
    assert parse_timestamp("2026-01-01T10:00:00Z", "t") == datetime(2026, 1, 1, 10)
    assert parse_timestamp("2026-01-01 10:00", "t") == datetime(2026, 1, 1, 10)
    for bad in ("yesterday", "1899-01-01", "2026-13-01"):
        with pytest.raises(BadValue, match="unknown date"):
            parse_timestamp(bad, "t")


def test_scores_live_on_one_scale():
    assert parse_unit_score("0.82", "quality_score") == 0.82
    with pytest.raises(BadValue, match="outside"):
        parse_unit_score("82", "quality_score")


def _write(path, text):
    path.write_text(text)
    return read_csv_rows(path)


POSTS = """decision_id,status,decision_type,content,content_type,generator_name,quality_score,posted_at,tweet_id,unrelated
p1,posted,single,One,factual_single,dataNerd,0.8,2026-01-01T10:00:00Z,1001,x
p2,posted,thread,Two,educational_thread,coach,0.7,2026-01-01T12:00:00Z,1002,y
p3,queued,single,Three,,,,,,z
bad1,posted,single,No date,,,,,,
bad2,published,single,Bad status,,,,2026-01-01T12:00:00Z,,
bad3,posted,single,Bad score,,,1.4,2026-01-01T12:00:00Z,,
"""

METRICS = """decision_id,tweet_id,collected_at,impressions,likes,retweets,replies,profile_clicks
p1,,2026-01-01T11:00:00Z,"1,000",10,2,1,4
p1,,2026-01-01T13:00:00Z,1.5K,20,3,2,
,1002,2026-01-01T14:00:00Z,800,30,1,1,3
p1,,2026-01-01T12:00:00Z,"1,200",12,2,1,
p1,,2026-01-01T15:00:00Z,1.4K,25,3,2,
p2,,2026-01-01T15:00:00Z,900,-1,0,0,
p2,,2026-01-01T16:00:00Z,0,3,0,0,
p2,,2026-01-01T17:00:00Z,10,30,0,0,
p2,,not a date,100,3,0,0,
p9,,2026-01-01T15:00:00Z,100,3,0,0,
,9999,2026-01-01T15:00:00Z,100,3,0,0,
p3,,2026-01-01T15:00:00Z,100,3,0,0,
p2,,2026-01-01T11:00:00Z,100,3,0,0,
p2,,2026-01-01T14:00:00Z,801,30,1,1,
"""

FOLLOWERS = """account_id,collected_at,followers
main,2026-01-01T10:00:00Z,"1,000"
main,2026-01-01T12:00:00Z,1010
main,2026-01-01T12:00:00Z,1011
main,2026-01-01T14:00:00Z,-5
main,someday,1000
"""


def test_load_quarantines_every_impossible_row_and_is_idempotent(warehouse_url, tmp_path):
    wh = Warehouse.from_url(warehouse_url)
    wh.migrate()
    files = {"posts": _write(tmp_path / "p.csv", POSTS), "metrics": _write(tmp_path / "m.csv", METRICS),
             "followers": _write(tmp_path / "f.csv", FOLLOWERS)}
    reports = {}
    for kind, rows in files.items():
        with wh.connect() as conn:
            reports[kind] = WRITERS[kind](conn, rows, now=NOW, source_name=kind)

    assert (reports["posts"].loaded, reports["posts"].quarantined_total) == (3, 3)
    assert dict(reports["posts"].quarantined) == {"unknown date": 1, "bad status": 1, "out of range": 1}
    # p1 at 11:00, 12:00, 13:00 and p2 (by tweet id) at 14:00 are fine; 15:00 for p1 goes backwards (1.4K < 1.5K).
    assert reports["metrics"].loaded == 4
    assert dict(reports["metrics"].quarantined) == {
        "counter went backwards": 1, "negative count": 1, "zero impressions": 1, "engagement exceeds impressions": 1,
        "unknown date": 1, "unknown post": 2, "not posted": 1, "before posting": 1, "duplicate": 1,
    }
    assert (reports["followers"].loaded, dict(reports["followers"].quarantined)) == (
        2, {"duplicate": 1, "negative count": 1, "unknown date": 1})

    with wh.connect() as conn:
        counts = {t: conn.scalar(f"select count(*) from raw.{t}")
                  for t in ("posts", "metric_snapshots", "follower_snapshots", "quarantine")}
        reasons = [r[0] for r in conn.fetchall("select reason from raw.quarantine where target_table = 'raw.metric_snapshots'")]
        payload = conn.scalar("select payload from raw.quarantine where reason like 'negative count%'")
    # Nothing is lost: every input row is either loaded or in quarantine with its payload.
    assert counts == {"posts": 3, "metric_snapshots": 4, "follower_snapshots": 2, "quarantine": 3 + 10 + 3}
    assert any("1400 < 1500" in r for r in reasons)
    assert '"likes": "-1"' in payload

    # The same files again change nothing.
    for kind, rows in files.items():
        with wh.connect() as conn:
            again = WRITERS[kind](conn, rows, now=datetime(2026, 1, 11), source_name=kind)
        assert again.loaded == 0 and again.updated == 0
    with wh.connect() as conn:
        assert {t: conn.scalar(f"select count(*) from raw.{t}") for t in counts} == counts


def test_posts_move_forward_but_never_back(duckdb_url):
    wh = Warehouse.from_url(duckdb_url)
    wh.migrate()
    queued = [{"decision_id": "d", "status": "queued", "content": "x"}]
    posted = [{"decision_id": "d", "status": "posted", "content": "x", "posted_at": "2026-01-01T10:00:00"}]
    with wh.connect() as conn:
        assert WRITERS["posts"](conn, queued, now=NOW).loaded == 1
    later = NOW + timedelta(hours=2)
    with wh.connect() as conn:
        assert WRITERS["posts"](conn, posted, now=later).updated == 1
        # The update is when the row last arrived: the incremental marts recompute the post from it.
        assert conn.scalar("select loaded_at from raw.posts where decision_id = 'd'") == later
    with wh.connect() as conn:
        back = WRITERS["posts"](conn, queued, now=NOW)
        assert dict(back.quarantined) == {"status went backwards": 1}
        assert conn.scalar("select status from raw.posts where decision_id = 'd'") == "posted"


def test_migrations_are_idempotent(warehouse_url):
    wh = Warehouse.from_url(warehouse_url)
    assert wh.migrate() == ["raw_tables", "learned_tables", "acting", "alerts", "x_connector", "llm_generator", "account_profiles",
                            "history_import", "quarantine_source", "topic_hook_arms",
                            "sim_topic_hook", "post_labels", "arm_reward", "raw_lookup_indexes", "change_points"]
    assert wh.migrate() == []
    assert wh.table_exists("raw", "quarantine")
    # The incremental marts' look-up indexes: PostgreSQL only (DuckDB prunes by zone maps).
    with wh.connect() as conn:
        if wh.kind == "postgres":
            names = {r[0] for r in conn.fetchall("select indexname from pg_indexes where schemaname = 'raw'")}
            assert {"metric_snapshots_loaded_at", "metric_snapshots_account_collected", "posts_loaded_at",
                    "follower_snapshots_loaded_at"} <= names
        else:
            assert conn.scalar("select count(*) from duckdb_indexes() where schema_name = 'raw'") == 0


def test_many_posts_updated_at_once_change_exactly_those_rows(warehouse_url):
    """Updates go out in chunks of bound values on DuckDB (an UPDATE from the values) and as an upsert on
    PostgreSQL: either way every changed column lands, the untouched post stays as it was."""
    wh = Warehouse.from_url(warehouse_url)
    wh.migrate()
    ids = [f"d{i:03d}" for i in range(450)]  # more than two chunks of VALUES_INSERT_ROWS
    with wh.connect() as conn:
        queued = [{"decision_id": d, "status": "queued", "content": f"text {d}", "quality_score": 0.5} for d in ids]
        assert WRITERS["posts"](conn, [*queued, {"decision_id": "kept", "status": "queued", "content": "k"}],
                                now=NOW).loaded == 451
    later = NOW + timedelta(hours=3)
    posted = [{"decision_id": d, "status": "posted", "content": f"text {d}",
               "posted_at": f"2026-01-10T{i % 24:02d}:00:00",
               "tweet_id": str(9000 + i), "thread_tweet_ids": [str(9000 + i)] if i % 2 else None,
               "quality_score": None if i % 3 == 0 else 0.25} for i, d in enumerate(ids)]
    with wh.connect() as conn:
        assert WRITERS["posts"](conn, posted, now=later).updated == 450
    with wh.connect() as conn:
        rows = {r[0]: r[1:] for r in conn.fetchall(
            "select decision_id, status, posted_at, tweet_id, thread_tweet_ids, quality_score, loaded_at "
            "from raw.posts")}
    assert rows["d007"] == ("posted", datetime(2026, 1, 10, 7), "9007", '["9007"]', 0.25, later)
    assert rows["d000"] == ("posted", datetime(2026, 1, 10, 0), "9000", None, None, later)
    assert rows["kept"] == ("queued", None, None, None, None, NOW)
    assert sum(r[0] == "posted" for r in rows.values()) == 450


def test_follower_snapshots_compare_with_what_is_stored_in_their_span(warehouse_url):
    wh = Warehouse.from_url(warehouse_url)
    wh.migrate()
    first = [{"account_id": "main", "collected_at": f"2026-01-01T{h:02d}:00:00", "followers": 1000 + h}
             for h in range(6)]
    with wh.connect() as conn:
        assert WRITERS["followers"](conn, first, now=NOW).loaded == 6
    again = [{"account_id": "main", "collected_at": "2026-01-01T03:00:00", "followers": 1003},   # unchanged
             {"account_id": "main", "collected_at": "2026-01-01T04:00:00", "followers": 999},    # conflicts
             {"account_id": "main", "collected_at": "2026-01-01T07:00:00", "followers": 1007}]   # new
    with wh.connect() as conn:
        report = WRITERS["followers"](conn, again, now=NOW)
    assert (report.loaded, report.unchanged, dict(report.quarantined)) == (1, 1, {"duplicate": 1})
